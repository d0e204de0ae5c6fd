package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKEKFileReadableByOthersWarns: fsck and inspect warn on stderr, naming the file
// and its mode (never the key), when other users can read --kek-file, and still run:
// the file may be a backup copy restored elsewhere. A private file draws no warning.
func TestKEKFileReadableByOthersWarns(t *testing.T) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir() // an empty store: fsck --allow-empty passes on it
	tests := []struct {
		name string
		mode os.FileMode
		args []string
		code int
		warn bool
	}{
		{"fsck, 0644", 0o644, []string{"fsck", "--allow-empty"}, 0, true},
		{"fsck, 0640", 0o640, []string{"fsck", "--allow-empty"}, 0, true},
		{"fsck, 0600", 0o600, []string{"fsck", "--allow-empty"}, 0, false},
		// inspect of a key that names no metadata file fails after the KEK is read.
		{"inspect, 0644", 0o644, []string{"inspect", "meta/none"}, 2, true},
		{"inspect, 0600", 0o600, []string{"inspect", "meta/none"}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kekFile := filepath.Join(t.TempDir(), "kek.hex")
			if err := os.WriteFile(kekFile, []byte(hex.EncodeToString(key)+"\n"), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(kekFile, tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			r := cli(t, nil, append(tt.args, "--backend", "file://"+store, "--kek-file", kekFile)...)
			warned := strings.Contains(r.stderr, "warning: --kek-file "+kekFile+" is accessible by other users")
			if r.code != tt.code || warned != tt.warn {
				t.Fatalf("exit %d (want %d), warned %v (want %v)\nstdout: %s\nstderr: %s", r.code, tt.code, warned, tt.warn, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, hex.EncodeToString(key)) {
				t.Fatal("the KEK is in the output")
			}
		})
	}
}
