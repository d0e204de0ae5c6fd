package metastoretest

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealerRejectsTampering(t *testing.T) {
	s, err := NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("<slideset name='x'/>")
	sealed, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	flip := func(i int) []byte { b := bytes.Clone(sealed); b[i] ^= 1; return b }
	tests := []struct {
		name string
		s    *Sealer
		in   []byte
	}{
		{"nonce flipped", s, flip(0)},
		{"ciphertext flipped", s, flip(14)},
		{"tag flipped", s, flip(len(sealed) - 1)},
		{"truncated", s, sealed[:len(sealed)-1]},
		{"extended", s, append(bytes.Clone(sealed), 0)},
		{"empty", s, nil},
		{"wrong key", other, sealed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.s.Open(tc.in); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open: %v, want ErrOpen", err)
			}
		})
	}
	if _, err := NewSealer(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
}
