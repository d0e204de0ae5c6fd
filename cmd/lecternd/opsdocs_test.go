package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/core/storage"
)

// operationsDoc returns docs/operations.md.
func operationsDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// umask returns this process's umask (Linux: /proc/self/status), read without
// changing it, as syscall.Umask would for the whole process.
func umask(t *testing.T) os.FileMode {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return os.FileMode(m)
		}
	}
	t.Skip("the kernel reports no umask")
	return 0
}

// TestDiskStoreModesAreDocumented: a disk store's files are created 0644 less the
// umask (readable by every local user under the usual 022) and its folders 0755, as
// operations.md says, and operations.md tells the operator that restricting the
// folder is theirs, and how.
func TestDiskStoreModesAreDocumented(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	b, err := backends.Open(context.Background(), "file://"+root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.PutBytes(context.Background(), "meta/x/conference.xml", []byte("x"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	mask := umask(t)
	for path, want := range map[string]os.FileMode{
		filepath.Join(root, "meta", "x", "conference.xml"): 0o644 &^ mask,
		filepath.Join(root, "meta", "x"):                   0o755 &^ mask,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o (umask %04o): operations.md's Storage URLs say otherwise", path, fi.Mode().Perm(), want, mask)
		}
	}
	doc := operationsDoc(t)
	for _, want := range []string{
		"files are created 0644 and folders 0755, less the umask",
		"#### Who can read a disk store",
		"install -d -m 0700 -o lectern /srv/store",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("operations.md does not say %q", want)
		}
	}
}

// TestEmptyVariableDoesNotClearTheFile: an empty LECTERN_* variable counts as not set,
// so the file's value applies; the flag given empty does clear it. operations.md says
// so, since an operator may expect the environment to override the file either way.
func TestEmptyVariableDoesNotClearTheFile(t *testing.T) {
	file := writeConfig(t, "backend: mem://from-file\ncors_origins: [\"https://app.example.org\"]\n")
	empty := env(map[string]string{"LECTERN_BACKEND": "", "LECTERN_CORS_ORIGINS": ""})
	tests := []struct {
		name        string
		args        []string
		wantBackend string
		wantOrigins int
	}{
		{"empty variables", []string{"--config", file}, "mem://from-file", 1},
		{"empty flag", []string{"--config", file, "--cors-origins="}, "mem://from-file", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, empty, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Backend != tt.wantBackend || len(cfg.CORSOrigins) != tt.wantOrigins {
				t.Fatalf("backend %q (want %q), origins %q (want %d)", cfg.Backend, tt.wantBackend, cfg.CORSOrigins, tt.wantOrigins)
			}
		})
	}
	doc := operationsDoc(t)
	for _, want := range []string{"An empty variable (`LECTERN_BACKEND=`) counts as not set", "give the flag (`--cors-origins=`)"} {
		if !strings.Contains(doc, want) {
			t.Errorf("operations.md does not say %q", want)
		}
	}
}
