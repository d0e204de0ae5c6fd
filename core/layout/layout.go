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

// The identifier forms are checked by hand rather than with regexp: they are on the
// path of every request (a content GET validates three of them), where the regexp
// engine cost about 3 % of the server's CPU (docs/benchmarks-server.md). The
// equivalent regular expressions are the reference in layout_test.go, which fuzzes
// the two against each other:
//
//	conference id   ^[a-z0-9][a-z0-9-]{0,63}$
//	organizer hash  ^[0-9a-f]{32}$
//	content name    ^(x[0-9a-f]{32}\.e[a-z0-9]{1,8}|[0-9a-f]{32}\.blb)$
//	set id          ^[a-z]{3,12}$

func isLowerHex(c byte) bool    { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
func isLowerAlnum(c byte) bool  { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' }
func isLowerLetter(c byte) bool { return c >= 'a' && c <= 'z' }
func allOf(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func validConferenceID(id string) bool {
	return len(id) >= 1 && len(id) <= 64 && isLowerAlnum(id[0]) &&
		allOf(id[1:], func(c byte) bool { return isLowerAlnum(c) || c == '-' })
}

func validOrgHash(h string) bool { return len(h) == 32 && allOf(h, isLowerHex) }

func validContentName(name string) bool {
	if hash, ok := strings.CutSuffix(name, ".blb"); ok && len(hash) == 32 {
		return allOf(hash, isLowerHex)
	}
	// x<32 hex>.e<1-8 of a-z0-9>
	if len(name) < 1+32+2+1 || len(name) > 1+32+2+8 || name[0] != 'x' || name[33] != '.' || name[34] != 'e' {
		return false
	}
	return allOf(name[1:33], isLowerHex) && allOf(name[35:], isLowerAlnum)
}

func validSetID(id string) bool { return len(id) >= 3 && len(id) <= 12 && allOf(id, isLowerLetter) }

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
	if !validConferenceID(id) {
		return fmt.Errorf("%w: conference id must be 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit", ErrInvalidID)
	}
	return nil
}

// ValidateOrganizerHash checks an organizer hash as produced by OrganizerHash.
func ValidateOrganizerHash(h string) error {
	if !validOrgHash(h) {
		return fmt.Errorf("%w: organizer hash must be 32 lowercase hex digits", ErrInvalidID)
	}
	return nil
}

// ValidateContentName checks a Lectern content file name: x<32 hex>.e<type> or
// <32 hex>.blb.
func ValidateContentName(name string) error {
	if !validContentName(name) {
		return fmt.Errorf("%w: content name must be x<32 hex>.e<type> or <32 hex>.blb", ErrInvalidID)
	}
	return nil
}

// ValidateSetID checks a slide set or handout id (aaa, aab, …).
func ValidateSetID(id string) error {
	if !validSetID(id) {
		return fmt.Errorf("%w: slide set or handout id must be 3-12 lowercase letters", ErrInvalidID)
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

// DeletingMarker is the key of the file a conference's delete writes before it
// removes anything, and removes last but the index entry: found without
// conference.xml, it says that a delete began and did not finish.
func (c Conference) DeletingMarker() string { return c.MetadataPrefix() + "deleting" }

// ContentKey is the storage key of a content file.
func (c Conference) ContentKey(name string) string { return c.ContentPrefix() + name }

// IndexKey is the key of the index entry of a conference id.
func IndexKey(conferenceID string) string { return IndexRoot + "/" + conferenceID }

// ContentURLPath is the path under which the components role serves a content file.
func (c Conference) ContentURLPath(name string) string {
	return "/v1/content/" + c.OrgHash + "/" + c.ID + "/" + name
}
