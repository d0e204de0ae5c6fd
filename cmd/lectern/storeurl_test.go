package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kekFileIn writes a random KEK file into dir.
func kekFileIn(t *testing.T, dir string) string {
	t.Helper()
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kek.hex")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(kek)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOfflineCommandsRefuseAMissingStore: a file: URL naming no folder (a typo) is an
// error, and nothing is created there; the commands that only read never make a store.
func TestOfflineCommandsRefuseAMissingStore(t *testing.T) {
	// paths are the names of one subtest's folder: args get them to build a command line.
	type paths struct{ kek, missing, plainFile, empty, target string }
	url := func(p string) string { return "file://" + filepath.ToSlash(p) }
	tests := []struct {
		name string
		args func(p paths) []string
		code int
		say  string
	}{
		{"fsck", func(p paths) []string { return []string{"fsck", "--backend", url(p.missing), "--kek-file", p.kek} }, exitError, "does not exist"},
		{"fsck localhost form", func(p paths) []string {
			return []string{"fsck", "--backend", "file://localhost" + filepath.ToSlash(p.missing), "--kek-file", p.kek}
		}, exitError, "does not exist"},
		{"fsck trailing slash", func(p paths) []string {
			return []string{"fsck", "--backend", url(p.missing) + "/", "--kek-file", p.kek}
		}, exitError, "does not exist"},
		{"fsck of a plain file", func(p paths) []string { return []string{"fsck", "--backend", url(p.plainFile), "--kek-file", p.kek} }, exitError, "not a folder"},
		{"inspect", func(p paths) []string {
			return []string{"inspect", "--backend", url(p.missing), "--kek-file", p.kek, "meta/" + strings.Repeat("a", 32) + "/deck/conference.xml"}
		}, exitError, "does not exist"},
		{"migrate source", func(p paths) []string { return []string{"migrate", "--from", url(p.missing), "--to", url(p.target)} }, exitError, "does not exist"},
		{"fsck of an empty store", func(p paths) []string { return []string{"fsck", "--backend", url(p.empty), "--kek-file", p.kek} }, exitError, "holds no conference"},
		{"fsck of an empty store allowed", func(p paths) []string {
			return []string{"fsck", "--allow-empty", "--backend", url(p.empty), "--kek-file", p.kek}
		}, exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := paths{kek: kekFileIn(t, dir), missing: filepath.Join(dir, "no-such-store"), plainFile: filepath.Join(dir, "plain-file"),
				empty: filepath.Join(dir, "empty"), target: filepath.Join(dir, "target")}
			if err := os.WriteFile(p.plainFile, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p.empty, 0o700); err != nil {
				t.Fatal(err)
			}
			r := cli(t, nil, tt.args(p)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.say) {
				t.Errorf("exit %d, want %d saying %q\nstdout: %s\nstderr: %s", r.code, tt.code, tt.say, r.stdout, r.stderr)
			}
			for _, created := range []string{p.missing, p.target} {
				if _, err := os.Stat(created); err == nil {
					t.Errorf("%s was created", created)
				}
			}
		})
	}
}

func TestLocalFolder(t *testing.T) {
	dir := t.TempDir()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want string // "" for not a local folder
	}{
		{"file://" + filepath.ToSlash(dir), dir},
		{"file://" + filepath.ToSlash(dir) + "/", dir},
		{"file://" + filepath.ToSlash(dir) + "//store/./", filepath.Join(dir, "store")},
		{"file://" + filepath.ToSlash(dir) + "/a/../store", filepath.Join(dir, "store")},
		{"file://localhost" + filepath.ToSlash(dir), dir},
		{"file://" + filepath.ToSlash(dir) + "/with%20space", filepath.Join(dir, "with space")},
		{"file:rel/store", filepath.Join(wd, "rel", "store")},
		{"file:./rel/store/", filepath.Join(wd, "rel", "store")},
		{"file://server/share", ""},
		{"file://", ""},
		{"s3://bucket/prefix", ""},
		{"mem://x", ""},
		{"file://%zz/x", ""},
	}
	for _, tt := range tests {
		got, ok := localFolder(tt.url)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("localFolder(%q) = %q, %v; want %q", tt.url, got, ok, tt.want)
		}
	}
}
