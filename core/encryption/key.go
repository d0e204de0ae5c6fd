package encryption

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// KeySize is the size of a key in bytes (AES-256).
const KeySize = 32

const redacted = "[redacted]"

// Key is a 256-bit content or metadata key. Its bytes never reach text output by
// accident: String, GoString, every fmt verb and slog print "[redacted]", and
// text/JSON/XML marshalling fails. Use Hex to get the text form on purpose.
type Key [KeySize]byte

// NewKey returns a fresh random key from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
		return Key{}, fmt.Errorf("encryption: generating key: %w", err)
	}
	return k, nil
}

// ParseKey parses the text form of a key: exactly 64 lowercase hex characters.
// The error never repeats the input.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*KeySize {
		return Key{}, fmt.Errorf("%w: want %d hex characters, got %d", ErrInvalidKey, 2*KeySize, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			// The position is harmless; the character itself is not echoed.
			return Key{}, fmt.Errorf("%w: character %d is not lowercase hex", ErrInvalidKey, i)
		}
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Key{}, ErrInvalidKey
	}
	return k, nil
}

// Hex returns the key's text form (64 lowercase hex characters). This is the only
// way to get the key bytes as text.
func (k Key) Hex() string { return hex.EncodeToString(k[:]) }

// String returns "[redacted]".
func (Key) String() string { return redacted }

// GoString returns a redacted Go-syntax form, so %#v does not leak either.
func (Key) GoString() string { return "encryption.Key(" + redacted + ")" }

// Format makes every fmt verb (%v, %x, %X, %s, %q, %d, ...) print "[redacted]".
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps keys out of structured logs.
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

var errMarshalKey = errors.New("encryption: refusing to marshal a key; use Key.Hex explicitly")

// MarshalText fails on purpose: a Key inside a struct must not end up in JSON, XML
// or a log line by accident. (json and xml use MarshalText for array types.)
func (Key) MarshalText() ([]byte, error) { return nil, errMarshalKey }

// MarshalJSON fails on purpose, for the same reason as MarshalText.
func (Key) MarshalJSON() ([]byte, error) { return nil, errMarshalKey }
