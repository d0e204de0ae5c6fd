package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/encryption"
)

// TestDownloadFailsWhenItsFileCannotBeCommitted: a download is written to a
// temporary file and renamed to --out once every byte is verified. If that last step
// fails, nothing is at --out: the command must fail, leave no temporary file, and not
// print "downloaded and verified", or a script would go on with a file that is not
// there (or with what was at --out before).
func TestDownloadFailsWhenItsFileCannotBeCommitted(t *testing.T) {
	key, err := encryption.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("lectern "), 1000)
	sealed, err := encryption.Seal(key, plain)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(sealed))
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name  string
		setup func(t *testing.T, out string) // makes the rename onto out fail
	}{
		{"--out is an empty folder", func(t *testing.T, out string) {
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"--out is a folder with files", func(t *testing.T, out string) {
			if err := os.MkdirAll(filepath.Join(out, "keep"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "deck.png")
			tt.setup(t, out)
			var stderr bytes.Buffer
			a := &app{server: srv.URL, token: "t", insecure: true, progress: "never",
				stdout: io.Discard, stderr: &stderr, env: func(string) (string, bool) { return "", false }}
			err := a.download(context.Background(), srv.URL+"/v1/content/o/conf-a/deck.png",
				downloadOptions{key: key.Hex(), out: out, force: true, retries: 1})
			if err == nil {
				t.Fatalf("the download succeeded though its file could not be put at %s; stderr: %s", out, stderr.String())
			}
			if strings.Contains(stderr.String(), "downloaded and verified") {
				t.Fatalf("a failed download reported success: %s", stderr.String())
			}
			if fi, err := os.Stat(out); err != nil || !fi.IsDir() {
				t.Fatalf("--out changed: %v %v", fi, err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != "deck.png" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
	// The control: the same download to a free name succeeds and holds the bytes.
	out := filepath.Join(t.TempDir(), "deck.png")
	a := &app{server: srv.URL, token: "t", insecure: true, progress: "never",
		stdout: io.Discard, stderr: io.Discard, env: func(string) (string, bool) { return "", false }}
	if err := a.download(context.Background(), srv.URL+"/v1/content/o/conf-a/deck.png",
		downloadOptions{key: key.Hex(), out: out, retries: 1}); err != nil {
		t.Fatalf("control download: %v", err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("control download: %d bytes, %v", len(got), err)
	}
}
