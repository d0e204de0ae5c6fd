// Package layout decides where everything lives in storage: the metadata, content and
// compliance roots, the per-conference folders under the organizer hash, and the names
// of content files. It is the one place that turns identifiers into storage keys, so
// that the engine, the HTTP tier and the CLI agree.
//
// It must not know about encryption, XML, HTTP or any backend; it only produces keys
// that satisfy storage.ValidateKey.
package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The three roots, as in the original system's metadata, content and compliance
// folders, kept side by side in one bucket.
const (
	MetadataRoot   = "meta"
	ContentRoot    = "content"
	ComplianceRoot = "compliance"
	// IndexRoot maps a conference id to its organizer hash, so that a conference can
	// be found by its id alone; its entries are created with create-only puts, which
	// is also what makes conference ids unique across servers sharing a backend.
	IndexRoot = "index"
	// UploadRoot holds the encrypted parts of uploads still in progress.
	UploadRoot = "uploads"
)

// ErrInvalidID reports an identifier that is not of the required form.
var ErrInvalidID = errors.New("invalid identifier")

var (
	conferenceIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	orgHashPattern      = regexp.MustCompile(`^[0-9a-f]{32}$`)
	contentNamePattern  = regexp.MustCompile(`^(x[0-9a-f]{32}\.e[a-z0-9]{1,8}|[0-9a-f]{32}\.blb)$`)
	setIDPattern        = regexp.MustCompile(`^[a-z]{3,12}$`)
)

// OrganizerHash is the stable folder name of an organizer: the first 16 bytes of the
// SHA-256 of the organizer's URI (trimmed, lower-cased), as 32 lowercase hex digits.
// The original system also hashed the organizer URI into the folder name; Lectern
// documents its hash so that any tool (`lectern hash-uri`) can reproduce it.
func OrganizerHash(organizerURI string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(organizerURI))))
	return hex.EncodeToString(sum[:16])
}

// ValidateConferenceID checks a conference id: 1 to 64 of a-z 0-9 and '-', not
// starting with '-'.
func ValidateConferenceID(id string) error {
	if !conferenceIDPattern.MatchString(id) {
		return fmt.Errorf("%w: conference id must be 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit", ErrInvalidID)
	}
	return nil
}

// ValidateOrganizerHash checks an organizer hash as produced by OrganizerHash.
func ValidateOrganizerHash(h string) error {
	if !orgHashPattern.MatchString(h) {
		return fmt.Errorf("%w: organizer hash must be 32 lowercase hex digits", ErrInvalidID)
	}
	return nil
}

// ValidateContentName checks a Lectern content file name: x<32 hex>.e<type> or
// <32 hex>.blb.
func ValidateContentName(name string) error {
	if !contentNamePattern.MatchString(name) {
		return fmt.Errorf("%w: content name must be x<32 hex>.e<type> or <32 hex>.blb", ErrInvalidID)
	}
	return nil
}

// ValidateSetID checks a slide set or handout id (aaa, aab, …).
func ValidateSetID(id string) error {
	if !setIDPattern.MatchString(id) {
		return fmt.Errorf("%w: slide set id must be 3-12 lowercase letters", ErrInvalidID)
	}
	return nil
}

// Conference locates one conference.
type Conference struct {
	OrgHash string
	ID      string
}

// MetadataPrefix is the conference's metadata folder, with a trailing slash.
func (c Conference) MetadataPrefix() string {
	return MetadataRoot + "/" + c.OrgHash + "/" + c.ID + "/"
}

// ContentPrefix is the conference's content folder, with a trailing slash.
func (c Conference) ContentPrefix() string {
	return ContentRoot + "/" + c.OrgHash + "/" + c.ID + "/"
}

// CompliancePrefix is the conference's compliance folder, with a trailing slash.
func (c Conference) CompliancePrefix() string {
	return ComplianceRoot + "/" + c.OrgHash + "/" + c.ID + "/"
}

// ConferenceFile is the key of conference.xml.
func (c Conference) ConferenceFile() string { return c.MetadataPrefix() + "conference.xml" }

// ContentKey is the storage key of a content file.
func (c Conference) ContentKey(name string) string { return c.ContentPrefix() + name }

// IndexKey is the key of the index entry of a conference id.
func IndexKey(conferenceID string) string { return IndexRoot + "/" + conferenceID }

// ContentURLPath is the path under which the components role serves a content file.
func (c Conference) ContentURLPath(name string) string {
	return "/v1/content/" + c.OrgHash + "/" + c.ID + "/" + name
}
