package metadata

import (
	"encoding/hex"
	"errors"
	"regexp"
)

// ContentRef is a reference from metadata to one encrypted content file: its
// random file name and the key it is encrypted with. The zero value means "no
// content". The key is secret: never log a ContentRef.
type ContentRef struct {
	Name string // random file name in the conference content folder
	Key  string // hex key of that file
}

// IsZero reports whether r references nothing.
func (r ContentRef) IsZero() bool { return r.Name == "" && r.Key == "" }

// String hides the key so that a ContentRef printed by mistake leaks nothing.
func (r ContentRef) String() string {
	if r.IsZero() {
		return "ContentRef{}"
	}
	return "ContentRef{" + r.Name + ", key hidden}"
}

// GoString hides the key from %#v as well.
func (r ContentRef) GoString() string { return r.String() }

type refKind uint8

const (
	slideContent refKind = iota // x<hex>.e<type>
	handoutBlob                 // <hex>.blb
)

// Name and key spellings. Lectern writes 128-bit names and 256-bit keys (SPEC §5);
// the original wrote 48-bit names (12 hex digits) and 128-bit keys (32 hex digits),
// which are accepted on load so the seeds' documents still read.
var (
	newContentName    = regexp.MustCompile(`^x[0-9a-f]{32}\.e[a-z0-9]{1,15}$`)
	newHandoutName    = regexp.MustCompile(`^[0-9a-f]{32}\.blb$`)
	newKey            = regexp.MustCompile(`^[0-9a-f]{64}$`)
	legacyContentName = regexp.MustCompile(`^x[0-9a-f]{12}\.e[a-z0-9]{1,15}$`)
	legacyHandoutName = regexp.MustCompile(`^[0-9a-f]{12}\.blb$`)
	legacyKey         = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

var (
	errContentName = errors.New("content file name is not x<32 hex>.e<type>")
	errHandoutName = errors.New("handout file name is not <32 hex>.blb")
	errKey         = errors.New("key is not 64 lowercase hex digits")
	errStoredName  = errors.New("file name is not a Lectern or legacy random content name")
	errStoredKey   = errors.New("key is not 64 (Lectern) or 32 (legacy) hex digits")
)

// ValidateNewContentRef checks a reference the engine is about to create for slide
// content (images, thumbnails, documents, media, chunks): x<32 hex>.e<type> and a
// 64-hex-digit key. Legacy spellings are refused here; they are only read.
func ValidateNewContentRef(r ContentRef) error {
	if !newContentName.MatchString(r.Name) {
		return &Error{Err: ErrInvalid, Msg: errContentName.Error()}
	}
	if !newKey.MatchString(r.Key) {
		return &Error{Err: ErrInvalid, Msg: errKey.Error()}
	}
	return nil
}

// ValidateNewHandoutRef is ValidateNewContentRef for handout blobs (<32 hex>.blb).
func ValidateNewHandoutRef(r ContentRef) error {
	if !newHandoutName.MatchString(r.Name) {
		return &Error{Err: ErrInvalid, Msg: errHandoutName.Error()}
	}
	if !newKey.MatchString(r.Key) {
		return &Error{Err: ErrInvalid, Msg: errKey.Error()}
	}
	return nil
}

// ContentName returns the content file name for a 128-bit random id and a type
// ("png", "ppt", "mdi", "media"…): x<32 hex>.e<type>.
func ContentName(id [16]byte, typ string) string {
	return "x" + hex.EncodeToString(id[:]) + ".e" + typ
}

// HandoutName returns the handout blob name for a 128-bit random id: <32 hex>.blb.
func HandoutName(id [16]byte) string { return hex.EncodeToString(id[:]) + ".blb" }

// KeyString returns the metadata spelling of a 256-bit key.
func KeyString(key [32]byte) string { return hex.EncodeToString(key[:]) }

// validateStoredRef checks a reference read from (or written to) a document:
// Lectern's spelling or the original's. The name pattern also guarantees that a
// name taken from metadata can never climb out of the content folder.
func validateStoredRef(r ContentRef, kind refKind) error {
	switch kind {
	case handoutBlob:
		if !newHandoutName.MatchString(r.Name) && !legacyHandoutName.MatchString(r.Name) {
			return errStoredName
		}
	default:
		if !newContentName.MatchString(r.Name) && !legacyContentName.MatchString(r.Name) {
			return errStoredName
		}
	}
	if !newKey.MatchString(r.Key) && !legacyKey.MatchString(r.Key) {
		return errStoredKey
	}
	return nil
}
