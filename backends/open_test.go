package backends_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/storage"
)

func open(t *testing.T, rawURL string) *storage.Bucket {
	t.Helper()
	b, err := backends.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func put(t *testing.T, b *storage.Bucket, key, data string) {
	t.Helper()
	if _, err := b.PutBytes(context.Background(), key, []byte(data), storage.Condition{}); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func TestOpenFileURLs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		url    string
		folder string // where the object must land
	}{
		{"file://" + filepath.ToSlash(filepath.Join(dir, "abs")), filepath.Join(dir, "abs")},
		{"file://localhost" + filepath.ToSlash(filepath.Join(dir, "local")), filepath.Join(dir, "local")},
		{"file:" + filepath.ToSlash(filepath.Join(dir, "single")), filepath.Join(dir, "single")},
		{"file://" + filepath.ToSlash(filepath.Join(dir, "with%20space")), filepath.Join(dir, "with space")},
		{"file:relative/data", filepath.Join(dir, "relative", "data")},
		{"file:./dotted", filepath.Join(dir, "dotted")},
		{"FILE://" + filepath.ToSlash(filepath.Join(dir, "upper")), filepath.Join(dir, "upper")},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			b := open(t, tc.url)
			if _, ok := b.Driver().(*disk.Driver); !ok {
				t.Fatalf("driver is %T, want *disk.Driver", b.Driver())
			}
			put(t, b, "x/y", "hello")
			got, err := os.ReadFile(filepath.Join(tc.folder, "x", "y"))
			if err != nil || string(got) != "hello" {
				t.Fatalf("file in %s: %q, %v", tc.folder, got, err)
			}
			// A second bucket on the same URL is a second instance over the same folder.
			data, _, err := open(t, tc.url).ReadAll(context.Background(), "x/y")
			if err != nil || string(data) != "hello" {
				t.Fatalf("second instance read %q, %v", data, err)
			}
		})
	}
}

func TestOpenMemoryURLs(t *testing.T) {
	ctx := context.Background()
	name := "open-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	a, b := open(t, "mem://"+name), open(t, "mem://"+name+"/")
	if _, ok := a.Driver().(*memory.Driver); !ok {
		t.Fatalf("driver is %T, want *memory.Driver", a.Driver())
	}
	put(t, a, "k", "shared")
	if got, _, err := b.ReadAll(ctx, "k"); err != nil || string(got) != "shared" {
		t.Fatalf("mem://%s does not share its store: %q, %v", name, got, err)
	}
	if _, err := memory.New(memory.Named(name)).Stat(ctx, "k"); err != nil {
		t.Fatalf("memory.Named(%q) is not the store of the URL: %v", name, err)
	}
	p1, p2 := open(t, "mem://"), open(t, "mem://")
	put(t, p1, "k", "private")
	if _, err := p2.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("two mem:// stores are shared: %v", err)
	}
	if _, err := open(t, "mem://other-"+name).Stat(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("differently named stores are shared: %v", err)
	}
}

func TestOpenRefusesBadURLs(t *testing.T) {
	dir := filepath.ToSlash(t.TempDir())
	tests := []struct{ name, url string }{
		{"empty", ""},
		{"no scheme", dir},
		{"unknown scheme", "ftp://example.invalid/x"},
		{"unparsable", "file://%zz/x"},
		{"file host dot", "file://./data"},
		{"file other host", "file://server" + dir},
		{"file no path", "file://"},
		{"file query", "file://" + dir + "?sync=false"},
		{"file fragment", "file://" + dir + "#x"},
		{"file user", "file://alice:hunter2@localhost" + dir},
		{"mem path", "mem://name/sub"},
		{"mem query", "mem://name?x=1"},
		{"mem opaque", "mem:name"},
		{"mem user", "mem://alice:hunter2@name"},
		// A password with '/', '?' or '#' ends the authority early: the parser's own
		// error would quote its tail as a port.
		{"smb password with slash", "smb://lectern:hunter2/x9@files.example/share"},
		{"smb password with hash", "smb://lectern:hunter2#x9@files.example/share"},
		{"smb password with question mark", "smb://lectern:hunter2?x9@files.example/share"},
		{"s3 password with slash", "s3://AKIAEXAMPLE:hunter2/x9@bucket/prefix"},
		{"s3 endpoint with credentials", "s3://bucket/prefix?endpoint=http://minio:hunter2@127.0.0.1:9000"},
		{"s3 endpoint not http", "s3://bucket/prefix?endpoint=ftp://minio:hunter2@127.0.0.1:9000"},
		{"s3 query unparsable", "s3://bucket/prefix?endpoint=http://minio:hunter2%zz@127.0.0.1:9000"},
		{"smb query unparsable", "smb://lectern@files.example/share?encrypt=true%zz"},
		{"smb parameter twice", "smb://lectern@files.example/share?encrypt=false&encrypt=true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := backends.Open(context.Background(), tc.url)
			if err == nil {
				b.Close()
				t.Fatalf("Open(%q) succeeded", tc.url)
			}
			if b != nil {
				t.Fatalf("Open(%q) returned a bucket with its error", tc.url)
			}
			if !errors.Is(err, storage.ErrInvalidArgument) {
				t.Fatalf("Open(%q): %v, want invalid argument", tc.url, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestOpenFileRootThatIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := backends.Open(context.Background(), (&url.URL{Scheme: "file", Path: filepath.ToSlash(f)}).String())
	if !errors.Is(err, storage.ErrInvalidArgument) {
		t.Fatalf("opening a file as a folder: %v, want invalid argument", err)
	}
}
