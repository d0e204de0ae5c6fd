// Package keywrap wraps a conference master key with the server's key-encryption key
// (KEK), so that conference.xml never holds a master key in plain text. A wrapped key
// is bound to the conference it belongs to: moving it into another conference's
// conference.xml makes unwrapping fail.
//
// It must not know about storage, XML or HTTP.
//
// Construction: AES-256-GCM (crypto/aes, crypto/cipher of the standard library) with a
// random 96-bit nonce, the conference id and KEK id as additional data. A wrapped key
// is version byte 0x01 || nonce || ciphertext || tag (61 bytes). GCM rather than RFC 3394 key wrap
// because it is in the standard library (key wrap is in neither it nor x/crypto),
// authenticated, and WebCrypto-compatible; random nonces are safe at one wrap per
// conference and re-wrap.
package keywrap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the size of the KEK and of the wrapped keys.
const KeySize = 32

const version byte = 1

// ErrUnwrap reports a wrapped key that does not open with this KEK for this
// conference: a wrong KEK, a key moved between conferences, or a damaged value.
var ErrUnwrap = errors.New("wrapped key does not open with this key-encryption key")

// Wrap seals key under kek for the conference conferenceID.
func Wrap(kek, key [KeySize]byte, kekID, conferenceID string) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+KeySize+aead.Overhead())
	out[0] = version
	nonce := out[1:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keywrap: nonce: %w", err)
	}
	return aead.Seal(out, nonce, key[:], additionalData(kekID, conferenceID)), nil
}

// Unwrap opens a wrapped key. Errors never contain key material.
func Unwrap(kek [KeySize]byte, wrapped []byte, kekID, conferenceID string) ([KeySize]byte, error) {
	var key [KeySize]byte
	if len(wrapped) == 0 || wrapped[0] != version {
		return key, fmt.Errorf("%w: unknown wrapping version", ErrUnwrap)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return key, err
	}
	raw := wrapped[1:]
	if len(raw) != aead.NonceSize()+KeySize+aead.Overhead() {
		return key, fmt.Errorf("%w: wrong length", ErrUnwrap)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], additionalData(kekID, conferenceID))
	if err != nil {
		return key, ErrUnwrap
	}
	copy(key[:], plain)
	clear(plain)
	return key, nil
}

func newAEAD(kek [KeySize]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek[:])
	if err != nil {
		return nil, fmt.Errorf("keywrap: %w", err)
	}
	return cipher.NewGCM(block)
}

func additionalData(kekID, conferenceID string) []byte {
	return []byte("lectern master key\x00" + kekID + "\x00" + conferenceID)
}
