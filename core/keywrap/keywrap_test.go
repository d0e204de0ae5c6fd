package keywrap

import (
	"crypto/rand"
	"errors"
	"testing"
)

func randomKey(t *testing.T) [KeySize]byte {
	t.Helper()
	var k [KeySize]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWrapUnwrap(t *testing.T) {
	kek, master, otherKEK := randomKey(t), randomKey(t), randomKey(t)
	wrapped, err := Wrap(kek, master, "kek-1", "conf-a")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unwrap(kek, wrapped, "kek-1", "conf-a")
	if err != nil || got != master {
		t.Fatalf("round trip failed: %v", err)
	}
	tampered := append([]byte(nil), wrapped...)
	tampered[len(tampered)-2] ^= 1
	otherVersion := append([]byte(nil), wrapped...)
	otherVersion[0] = 9
	tests := []struct {
		name              string
		kek               [KeySize]byte
		wrapped           []byte
		kekID, conference string
	}{
		{"wrong KEK", otherKEK, wrapped, "kek-1", "conf-a"},
		{"moved to another conference", kek, wrapped, "kek-1", "conf-b"},
		{"other KEK id", kek, wrapped, "kek-2", "conf-a"},
		{"tampered", kek, tampered, "kek-1", "conf-a"},
		{"unknown version", kek, otherVersion, "kek-1", "conf-a"},
		{"empty", kek, nil, "kek-1", "conf-a"},
		{"truncated", kek, wrapped[:20], "kek-1", "conf-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unwrap(tt.kek, tt.wrapped, tt.kekID, tt.conference)
			if !errors.Is(err, ErrUnwrap) {
				t.Fatalf("got %v, want ErrUnwrap", err)
			}
		})
	}
}

func TestWrapIsRandomised(t *testing.T) {
	kek, master := randomKey(t), randomKey(t)
	a, _ := Wrap(kek, master, "k", "c")
	b, _ := Wrap(kek, master, "k", "c")
	if string(a) == string(b) {
		t.Fatal("two wraps of one key are identical: the nonce is not random")
	}
}
