package metastoretest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Sealer is a small AES-256-GCM sealer for tests (random 96-bit nonce, nonce ||
// ciphertext || tag). The engine's real sealer lives in core/encryption; this one
// exists so that the persistence tests do not depend on it.
type Sealer struct{ aead cipher.AEAD }

// ErrOpen is returned by Sealer.Open for anything it did not seal with its key.
var ErrOpen = errors.New("test sealer: message authentication failed")

// NewSealer returns a sealer with the given 32-byte key, or a random one if key is nil.
func NewSealer(key []byte) (*Sealer, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("test sealer: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext.
func (s *Sealer) Seal(plaintext []byte) ([]byte, error) {
	out := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return s.aead.Seal(out, out, plaintext, nil), nil
}

// Open decrypts and authenticates ciphertext.
func (s *Sealer) Open(ciphertext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n+s.aead.Overhead() {
		return nil, ErrOpen
	}
	out, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], nil)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
