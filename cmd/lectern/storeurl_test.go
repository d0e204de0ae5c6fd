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

func TestSameStorage(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(store, link); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, store)
	if err != nil {
		t.Fatal(err)
	}
	u := func(p string) string { return "file://" + filepath.ToSlash(p) }
	tests := []struct {
		a, b         string
		same, nested bool
	}{
		{u(store), u(store), true, false},
		{u(store), u(store) + "/", true, false},
		{u(store), u(store) + "//", true, false},
		{u(store), u(dir) + "/./store", true, false},
		{u(store), u(store) + "/sub/..", true, false},
		{u(store), "file://localhost" + filepath.ToSlash(store), true, false},
		{u(store), "file:" + filepath.ToSlash(rel), true, false},
		{u(store), u(link), true, false},
		{u(store), u(store) + "/copy", false, true},
		{u(store), u(link) + "/copy/deeper", false, true}, // not made yet, through the link
		{u(store) + "/copy", u(store), false, true},
		{u(store), u(store) + "-copy", false, false},
		{u(store), u(dir) + "/other", false, false},
		{u(store), "s3://bucket/store", false, false},
		{"s3://bucket/store?endpoint=http://127.0.0.1:9000&region=x", "s3://bucket/store/?region=x&endpoint=http://127.0.0.1:9000", true, false},
		{"s3://bucket/store", "S3://bucket//store/", true, false},
		{"s3://bucket/store", "s3://bucket/store2", false, false},
		{"s3://bucket/store", "s3://other/store", false, false},
		{"smb://alice:one@HOST/share/x", "smb://alice:two@host/share/x/", true, false},
		{"smb://alice@host/share/x", "smb://bob@host/share/x", false, false},
		{"mem://a", "mem://a", true, false},
		{"mem://a", "mem://b", false, false},
	}
	for _, tt := range tests {
		same, nested := sameStorage(tt.a, tt.b)
		if same != tt.same || nested != tt.nested {
			t.Errorf("sameStorage(%q, %q) = %v, %v; want %v, %v", tt.a, tt.b, same, nested, tt.same, tt.nested)
		}
	}
}

// TestMigrateRefusesItsOwnSource: a target that is the source spelt another way, or a
// folder inside it, is a usage error and nothing is copied.
func TestMigrateRefusesItsOwnSource(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(filepath.Join(store, "index"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "index", "demo"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	from := "file://" + filepath.ToSlash(store)
	for _, to := range []string{from + "/", "file://localhost" + filepath.ToSlash(store), from + "/copy"} {
		r := cli(t, nil, "migrate", "--from", from, "--to", to)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--from and --to are") {
			t.Errorf("--to %s: exit %d, want %d\nstdout: %s\nstderr: %s", to, r.code, exitUsage, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(store, "copy")); err == nil {
		t.Error("a copy was made inside the source")
	}
}
