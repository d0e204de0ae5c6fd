package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers"
	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/conformance/servers/samba"
)

// smallFilesystem mounts a tmpfs of size bytes on the folder dir (created if need be)
// for the test. It needs root (or CAP_SYS_ADMIN): without, the test skips, and fails
// where the full filesystem is required (CI, or LECTERN_REQUIRE=fullfs).
func smallFilesystem(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size)+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		servers.Unavailable(t, "fullfs", "mounting a small tmpfs failed: "+strings.TrimSpace(string(out)),
			"run the tests as root, or with CAP_SYS_ADMIN")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// fillUp writes a file into dir until the filesystem is full, then gives back free
// bytes of it, and returns the file's path.
func fillUp(t *testing.T, dir string, free int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(max(fi.Size()-free, 0)); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEndToEndDiskFull runs lecternd on a store whose filesystem fills up: on disk, on
// a MinIO whose data folder is that filesystem, and on a Samba share whose folder is.
// An upload runs into the full
// disk halfway through a PATCH, and a slide-set change and a conference create meet
// it too. Each answers 503 storage_unavailable with Retry-After (a full disk is
// classified unavailable: space may come back, and tus clients retry a 503), the
// request log names the cause, nothing is applied that was refused, what was stored
// before still downloads, and no temporary file is left behind. Once space is freed,
// the upload resumes from the offset the server reports and completes, the change and
// the create succeed, and after a clean stop `lectern fsck` finds the store clean. In
// between, lecternd is restarted on the full disk, and serves what it has.
func TestEndToEndDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts filesystems; not in -short")
	}
	const size = 32 << 20
	t.Run("disk", func(t *testing.T) {
		mount := t.TempDir()
		smallFilesystem(t, mount, size)
		store := filepath.Join(mount, "store")
		diskFull(t, testBackend{args: []string{"--backend", "file://" + store}}, mount, store, "no space left on device")
	})
	t.Run("s3", func(t *testing.T) {
		var mount string
		srv := minio.StartOwn(t, func(data string) {
			smallFilesystem(t, data, size)
			mount = data
		})
		bucket := srv.NewBucket(t)
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		backend := "s3://" + bucket + "/lectern?path_style=true&region=" +
			url.QueryEscape(srv.Region) + "&endpoint=" + url.QueryEscape(srv.Endpoint)
		// MinIO answers XMinioStorageFull, or cuts the connection of a part it
		// cannot store: the cause is checked to be logged, whatever its words.
		diskFull(t, testBackend{args: []string{"--backend", backend}}, mount, "", "")
	})
	t.Run("smb", func(t *testing.T) {
		srv := samba.Start(t)
		if srv.Root == "" {
			t.Skip("the Samba server is not the tests' own: its disk cannot be filled")
		}
		folder := srv.NewFolder(t)
		mount := filepath.Join(srv.Root, filepath.FromSlash(srv.Base), folder)
		smallFilesystem(t, mount, size)
		u, err := url.Parse(srv.URL(folder))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("password_file", srv.PasswordFile(t))
		u.RawQuery = q.Encode()
		diskFull(t, testBackend{args: []string{"--backend", u.String()}}, mount, mount, "the disk was full")
	})
}

// diskFull is TestEndToEndDiskFull on backend b, whose objects are files under
// store ("": the backend's own layout, not checked for temporary files), on the small
// filesystem mounted at mount; cause is how the backend's error names a full disk
// ("": any cause logged).
func diskFull(t *testing.T, b testBackend, mount, store, cause string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"--listen", addr}, b.args...)
	e, p := newE2E(t, args...)

	// Before: a stored handout, a slide set, and an upload created.
	stored, storedSum := randomFile(t, e.work, 2_000_000)
	storedData, _ := os.ReadFile(stored)
	done := e.patch(e.createUpload("stored.pdf", "handout", len(storedData)), 0, storedData, 204)
	storedURL, storedKey := done.Get("Lectern-Content-Url"), done.Get("Lectern-Content-Key")
	var set struct{ ID, Name string }
	e.call("POST", "/v1/conferences/e2e/slidesets", e.presenter, `{"name":"Before the disk filled"}`, 201, &set)
	// Over the 8 MiB the direct path takes, so that the upload grows in its part.
	const size, left = 10_000_000, 2 << 20
	path, sum := randomFile(t, e.work, size)
	data, _ := os.ReadFile(path)
	loc := e.createUpload("deck.pdf", "handout", size)

	// The disk fills up with two megabytes left, which the PATCH runs into.
	fillUp(t, mount, left)
	unavailable := func(what string, resp *http.Response, body []byte) {
		t.Helper()
		wantUnavailable(t, what+" on a full disk", resp, body)
	}
	resp, body := e.send("PATCH", loc, e.presenter, "application/offset+octet-stream", data,
		"Tus-Resumable", "1.0.0", "Upload-Offset", "0")
	unavailable("PATCH", resp, body)
	// The request's log line, written once the answer is out, names the cause.
	for deadline := time.Now().Add(10 * time.Second); !loggedCause(p.stderr.String(), "PATCH", cause); {
		if time.Now().After(deadline) {
			t.Fatalf("lecternd did not log the PATCH's cause (%q):\n%s", cause, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Whatever space the PATCH left is taken too.
	filler := fillUp(t, mount, 0)

	resp, body = e.send("PATCH", "/v1/conferences/e2e/slidesets/"+set.ID, e.presenter, "application/json",
		[]byte(`{"name":"Renamed on a full disk"}`))
	unavailable("renaming a slide set", resp, body)
	resp, body = e.send("POST", "/v1/conferences", e.admin, "application/json",
		[]byte(`{"id":"during","organizer":"sip:bob@example.com"}`))
	unavailable("POST /v1/conferences", resp, body)
	if got := e.downloadInRanges(storedURL, storedKey); got != storedSum {
		t.Fatal("the file stored before the disk filled differs from the upload")
	}
	e.call("GET", "/v1/conferences/e2e/slidesets/"+set.ID, e.presenter, "", 200, &set)
	if set.Name != "Before the disk filled" {
		t.Fatalf("the refused rename was applied: the set is named %q", set.Name)
	}
	e.call("GET", "/v1/conferences/during", e.admin, "", 404, nil)
	assertNoTemporaryFiles(t, store)

	// An operator restarts lecternd while the disk is still full: it stops, starts,
	// and serves what it has.
	t.Logf("lecternd stopped on a full disk with exit code %d", p.stop(t))
	p = start(t, e.work, args...)
	if got := e.downloadInRanges(storedURL, storedKey); got != storedSum {
		t.Fatal("after a restart on the full disk, the stored file differs from the upload")
	}
	e.call("GET", "/v1/conferences/e2e/slidesets/"+set.ID, e.presenter, "", 200, &set)
	if set.Name != "Before the disk filled" {
		t.Fatalf("after a restart on the full disk the set is named %q", set.Name)
	}
	// The upload's requests take its lease, a file in the storage, which the full
	// disk refuses: HEAD as well as PATCH wait for space.
	resp, _ = e.send("HEAD", loc, e.presenter, "", nil, "Tus-Resumable", "1.0.0")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HEAD after a restart on the full disk: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, body = e.send("PATCH", loc, e.presenter, "application/offset+octet-stream", data,
		"Tus-Resumable", "1.0.0", "Upload-Offset", "0")
	unavailable("PATCH after a restart", resp, body)

	// Space comes back.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// As a tus client does, each request is sent again after a 503's Retry-After: a
	// store may take a moment to see the space (MinIO samples its free space).
	resp, _ = e.sendUntilServed("HEAD", loc, e.presenter, "", nil, "Tus-Resumable", "1.0.0")
	off, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	if resp.StatusCode != http.StatusOK || err != nil || off < 0 || off > left {
		t.Fatalf("HEAD once space was freed: %d, offset %d (%v), want 200 and 0..%d", resp.StatusCode, off, err, left)
	}
	t.Logf("the PATCH that met the full disk kept %d bytes", off)
	resp, body = e.sendUntilServed("PATCH", loc, e.presenter, "application/offset+octet-stream", data[off:],
		"Tus-Resumable", "1.0.0", "Upload-Offset", strconv.Itoa(off))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH at %d once space was freed: %d: %s", off, resp.StatusCode, body)
	}
	done = resp.Header
	if got := e.downloadInRanges(done.Get("Lectern-Content-Url"), done.Get("Lectern-Content-Key")); got != sum {
		t.Fatal("the upload finished after the disk was freed differs from the file")
	}
	if resp, body := e.sendUntilServed("PATCH", "/v1/conferences/e2e/slidesets/"+set.ID, e.presenter, "application/json",
		[]byte(`{"name":"Renamed after"}`)); resp.StatusCode != http.StatusOK {
		t.Fatalf("renaming the slide set once space was freed: %d: %s", resp.StatusCode, body)
	}
	if resp, body := e.sendUntilServed("POST", "/v1/conferences", e.admin, "application/json",
		[]byte(`{"id":"after","organizer":"sip:bob@example.com"}`)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating a conference once space was freed: %d: %s", resp.StatusCode, body)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("lecternd exited with %d on SIGTERM", code)
	}
	assertNoTemporaryFiles(t, store)
	fsck(t, e, b)
}

// assertNoTemporaryFiles fails if the disk store under root holds a temporary file of
// a put (.tmp-*).
func assertNoTemporaryFiles(t *testing.T, root string) {
	t.Helper()
	if root == "" {
		return
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sendUntilServed is send, repeated after each 503's Retry-After for up to a minute,
// as a client that honours Retry-After does.
func (e *e2e) sendUntilServed(method, path, token, contentType string, body []byte, headers ...string) (*http.Response, []byte) {
	e.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		resp, data := e.send(method, path, token, contentType, body, headers...)
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return resp, data
		}
		retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || retry <= 0 {
			e.t.Fatalf("%s %s: 503 without a Retry-After in seconds", method, path)
		}
		e.t.Logf("%s %s: 503, again in %d s", method, path, retry)
		time.Sleep(time.Duration(retry) * time.Second)
	}
}

// loggedCause reports whether logs hold the request log line of a method request
// answered 503 whose error names cause.
func loggedCause(logs, method, cause string) bool {
	for line := range strings.Lines(logs) {
		var rec struct {
			Msg, Method, Error string
			Status             int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" && rec.Method == method &&
			rec.Status == http.StatusServiceUnavailable && rec.Error != "" && strings.Contains(rec.Error, cause) {
			return true
		}
	}
	return false
}
