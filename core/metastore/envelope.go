package metastore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The plaintext inside every sealed metadata file starts with a magic that says which
// kind of file it is, so that a file copied to a different role (a journal record put
// where a snapshot belongs) fails to decode instead of being misread.
const (
	magicSnapshot = "LMS1" // set-<id>.exml, set-s-<id>.exml and the ft/ equivalents
	magicJournal  = "LMJ1" // journal/<seq>
	magicIDFile   = "LMI1" // SSMaxId, ft/FTMaxID and id claims
)

// Journal record operations.
const (
	opPut    byte = 1
	opDelete byte = 2
)

// envelope is the plaintext of a sealed metadata file:
//
//	magic [4] | op [1] | gen [8, big endian] | len(name) [2] | name | len(data) [4] | data
//
// gen is the document's generation (the journal sequence number of the change it
// reflects) or the journal record's own sequence number; name binds the file to the
// document (or id kind) it belongs to, so that a file copied over another document's
// file is detected as damage rather than loaded. Written by hand because the layout is
// four fixed fields: an encoding library would add a dependency and no safety.
type envelope struct {
	magic string
	op    byte
	gen   uint64
	name  string
	data  []byte
}

const envelopeHeader = 4 + 1 + 8 + 2

var errBadEnvelope = errors.New("malformed envelope")

func (e envelope) encode() []byte {
	b := make([]byte, 0, envelopeHeader+len(e.name)+4+len(e.data))
	b = append(b, e.magic...)
	b = append(b, e.op)
	b = binary.BigEndian.AppendUint64(b, e.gen)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.name)))
	b = append(b, e.name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.data)))
	return append(b, e.data...)
}

// decodeEnvelope parses b strictly: the magic must match and no byte may be missing
// or left over.
func decodeEnvelope(b []byte, magic string) (envelope, error) {
	if len(b) < envelopeHeader {
		return envelope{}, fmt.Errorf("%w: %d bytes", errBadEnvelope, len(b))
	}
	if string(b[:4]) != magic {
		return envelope{}, fmt.Errorf("%w: wrong file type", errBadEnvelope)
	}
	e := envelope{magic: magic, op: b[4], gen: binary.BigEndian.Uint64(b[5:13])}
	n := int(binary.BigEndian.Uint16(b[13:15]))
	rest := b[envelopeHeader:]
	if len(rest) < n+4 {
		return envelope{}, fmt.Errorf("%w: truncated name", errBadEnvelope)
	}
	e.name = string(rest[:n])
	rest = rest[n:]
	d := int(binary.BigEndian.Uint32(rest[:4]))
	rest = rest[4:]
	if len(rest) != d {
		return envelope{}, fmt.Errorf("%w: data length %d, have %d", errBadEnvelope, d, len(rest))
	}
	e.data = rest
	return e, nil
}

// seal encodes and encrypts an envelope.
func (s *Store) seal(e envelope) ([]byte, error) {
	out, err := s.sealer.Seal(e.encode())
	if err != nil {
		return nil, fmt.Errorf("metastore: seal %s: %w", e.name, err)
	}
	return out, nil
}

// open decrypts and decodes a sealed file and checks that it belongs to name. Every
// failure is ErrCorrupt: the caller cannot tell a tampered file from a damaged one and
// must not try to.
func (s *Store) open(key string, sealed []byte, magic, name string) (envelope, error) {
	plain, err := s.sealer.Open(sealed)
	if err != nil {
		return envelope{}, &CorruptError{Key: key, Reason: "does not decrypt", Err: err}
	}
	e, err := decodeEnvelope(plain, magic)
	if err != nil {
		return envelope{}, &CorruptError{Key: key, Reason: "does not decode", Err: err}
	}
	if e.name != name {
		return envelope{}, &CorruptError{Key: key, Reason: fmt.Sprintf("belongs to %q", e.name)}
	}
	return e, nil
}
