package stream

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/layout"
)

// Object names inside an upload's folder.
const (
	infoObject   = "info"
	tailObject   = "tail"
	stageObject  = "stage"
	lockObject   = "lock"
	unlockObject = "unlock"
	partPrefix   = "part-"
)

// recordVersion is the version of the info object's JSON and of the layout of the
// upload's objects. Version 2: part 0 begins with the encryption header and the part
// that receives the last byte ends with the final segment, so the parts concatenated
// are the content file (version 1 kept the header in the record only and made the
// final segment at completion). A version-1 upload answers 410 and is started again.
const recordVersion = 2

// record is the info object. Everything in it is public except Secret, which is
// sealed with the server's upload key: the content key and what the uploader said of
// the file (its name may itself be confidential).
type record struct {
	Version    int       `json:"v"`
	Conference string    `json:"conference"`
	ID         string    `json:"id"`
	Purpose    string    `json:"purpose"` // "slide" or "handout"
	Name       string    `json:"name"`    // the content name chosen at creation
	Size       int64     `json:"size"`    // Upload-Length; -1 while deferred
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	// Header is the encryption header of the upload's ciphertext (public: salt and
	// nonce prefix). With the number of stored segments it is all a writer needs to
	// resume.
	Header []byte `json:"header"`
	// Secret is encryption.Seal(upload key, JSON of secret).
	Secret []byte `json:"secret"`
	// Append: the upload's ciphertext grows in place in part 0 (storage.Appender)
	// instead of in one part object per request. Chosen at creation by what the
	// backend can do; an upload keeps its mode. Part 0 may then hold bytes past what
	// the tail names (an append whose request failed before the tail was written):
	// they count only as far as they authenticate.
	Append bool `json:"append,omitempty"`
	// Adopting is set just before a one-part upload's part is renamed into the
	// content file (engine.AdoptEncrypted): after a crash in between, a missing part
	// is looked for there instead of being taken for an upload with no data.
	Adopting bool `json:"adopting,omitempty"`
	// Done is set once the content is stored; the record then answers HEAD and the
	// result route until the upload expires.
	Done *doneRecord `json:"done,omitempty"`
	// Refused is set when the engine refused the finished content for good (see
	// upload.refuse): the parts and any stored content are removed, and the record
	// answers 410 with the reason until the upload expires or is terminated.
	Refused *refusedRecord `json:"refused,omitempty"`
}

type refusedRecord struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// secret is the sealed part of the record. Upload repeats the upload's identity so
// that a sealed blob copied into another upload's record is refused.
type secret struct {
	Upload   string            `json:"upload"`
	Key      string            `json:"key"` // hex; this struct is only ever marshalled to be sealed
	Metadata map[string]string `json:"metadata"`
	Owner    string            `json:"owner,omitempty"`
}

type doneRecord struct {
	Size    int64  `json:"size"`
	URL     string `json:"url"`
	Handout string `json:"handout,omitempty"`
}

func purposeName(p conference.Purpose) string {
	if p == conference.HandoutContent {
		return "handout"
	}
	return "slide"
}

func parsePurpose(s string) (conference.Purpose, error) {
	switch s {
	case "", "slide", "content", "slide-content":
		return conference.SlideContent, nil
	case "handout":
		return conference.HandoutContent, nil
	}
	return 0, fmt.Errorf("%w: purpose %q (slide or handout)", conference.ErrInvalidInput, s)
}

// newUploadID returns 128 random bits in hex: an upload URL cannot be guessed.
func newUploadID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidateUploadID checks the form of an upload id (32 lowercase hex characters).
func ValidateUploadID(id string) error {
	if len(id) != 32 {
		return fmt.Errorf("%w: upload id must be 32 lowercase hex characters", layout.ErrInvalidID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: upload id must be 32 lowercase hex characters", layout.ErrInvalidID)
		}
	}
	return nil
}

// uploadPrefix is the folder of one upload.
func uploadPrefix(conf, id string) string {
	return layout.UploadRoot + "/" + conf + "/" + id + "/"
}

func partName(first uint64) string { return fmt.Sprintf("%s%010d", partPrefix, first) }

// binding names an upload in the sealed secret and in the key wrapping.
func binding(conf, id string) string { return conf + "/" + id }

var errDamaged = errors.New("upload record damaged")

func sealSecret(uploadKey [UploadKeySize]byte, s secret) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return encryption.Seal(encryption.Key(uploadKey), b)
}

func openSecret(uploadKey [UploadKeySize]byte, sealed []byte, conf, id string) (secret, encryption.Key, error) {
	var s secret
	b, err := encryption.Open(encryption.Key(uploadKey), sealed)
	if err != nil {
		// Wrong upload key or a modified record; never say more (no key material).
		return s, encryption.Key{}, fmt.Errorf("%w: the sealed part does not open with this server's upload key: %w", errDamaged, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, encryption.Key{}, fmt.Errorf("%w: sealed part: %w", errDamaged, err)
	}
	if s.Upload != binding(conf, id) {
		return s, encryption.Key{}, fmt.Errorf("%w: the sealed part belongs to another upload", errDamaged)
	}
	key, err := encryption.ParseKey(s.Key)
	if err != nil {
		return s, encryption.Key{}, fmt.Errorf("%w: %w", errDamaged, err)
	}
	s.Key = ""
	return s, key, nil
}
