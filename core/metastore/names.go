package metastore

import (
	"errors"
	"fmt"
	"strings"
)

// Kind says which family of documents a Doc belongs to; each kind has its own file
// names and its own id sequence.
type Kind uint8

const (
	// SlideSet documents are set-<id>.exml with ids from SSMaxId.
	SlideSet Kind = iota + 1
	// Handout documents are ft/fileset-<id>.exml with ids from ft/FTMaxID.
	Handout
)

// Kinds lists every kind, for callers that walk them all.
var Kinds = []Kind{SlideSet, Handout}

type kindNames struct {
	name    string // for messages and envelope binding
	primary string // file name pattern of the primary copy
	backup  string // file name pattern of the backup copy
	maxID   string // the file holding the last used id
	claim   string // prefix of id claims (backends without conditional replace)
}

var kindTable = map[Kind]kindNames{
	SlideSet: {name: "set", primary: "set-", backup: "set-s-", maxID: "SSMaxId", claim: "ids/set-"},
	Handout:  {name: "fileset", primary: "ft/fileset-", backup: "ft/fileset-s-", maxID: "ft/FTMaxID", claim: "ids/fileset-"},
}

const docExt = ".exml"

func (k Kind) valid() bool { _, ok := kindTable[k]; return ok }

func (k Kind) String() string {
	if n, ok := kindTable[k]; ok {
		return n.name
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Doc names one document: a slide set or a handout of the conference the Store serves.
type Doc struct {
	Kind Kind
	ID   string
}

// String returns the document's name, which is also bound into its sealed files.
func (d Doc) String() string { return d.Kind.String() + "-" + d.ID }

// PrimaryKey is the primary copy's key relative to the Store's prefix.
func (d Doc) PrimaryKey() string { return kindTable[d.Kind].primary + d.ID + docExt }

// BackupKey is the backup copy's key relative to the Store's prefix.
func (d Doc) BackupKey() string { return kindTable[d.Kind].backup + d.ID + docExt }

// MaxIDKey is the key, relative to the Store's prefix, of the file holding kind's last
// used id.
func MaxIDKey(k Kind) string { return kindTable[k].maxID }

// JournalPrefix is the key prefix, relative to the Store's prefix, of journal records.
const JournalPrefix = "journal/"

func journalKey(seq uint64) string { return fmt.Sprintf("%s%020d", JournalPrefix, seq) }

// Errors. Besides these, errors of the storage layer keep their categories
// (storage.ErrNotFound for a missing document, storage.ErrUnavailable, ...).
var (
	// ErrCorrupt: a metadata file exists but does not decrypt or decode, or belongs to
	// another document. For a document it is only returned when no copy is valid.
	ErrCorrupt = errors.New("metadata corrupt")
	// ErrInvalidDoc: the document name (kind or id) is not valid.
	ErrInvalidDoc = errors.New("invalid document name")
	// ErrTooLarge: a document is over MaxDocumentSize. It is a limit of this store,
	// not a malformed request to the storage, and callers answer it as a limit. The
	// error also matches storage.ErrInvalidArgument, its category before it had a
	// sentinel of its own.
	ErrTooLarge = errors.New("document too large")
)

// CorruptError describes one damaged file. It matches ErrCorrupt with errors.Is. It
// never carries file contents or key material.
type CorruptError struct {
	Key    string // storage key of the damaged file, relative to the Store's prefix
	Reason string
	Err    error // the sealer's or decoder's error, may be nil
}

func (e *CorruptError) Error() string {
	msg := fmt.Sprintf("metastore: %s %s", e.Key, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + ": " + ErrCorrupt.Error()
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

func (d Doc) validate() error {
	if !d.Kind.valid() {
		return fmt.Errorf("metastore: %v: %w", d.Kind, ErrInvalidDoc)
	}
	if _, ok := ParseID(d.ID); !ok {
		return fmt.Errorf("metastore: id %q: %w", printable(d.ID), ErrInvalidDoc)
	}
	return nil
}

// parseDocKey recognises the key (relative to the prefix) of a document copy.
func parseDocKey(k Kind, key string) (id string, backup, ok bool) {
	n := kindTable[k]
	if !strings.HasSuffix(key, docExt) {
		return "", false, false
	}
	base := strings.TrimSuffix(key, docExt)
	switch {
	case strings.HasPrefix(base, n.backup):
		id, backup = strings.TrimPrefix(base, n.backup), true
	case strings.HasPrefix(base, n.primary):
		id = strings.TrimPrefix(base, n.primary)
	default:
		return "", false, false
	}
	if _, valid := ParseID(id); !valid {
		return "", false, false
	}
	return id, backup, true
}

func printable(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
