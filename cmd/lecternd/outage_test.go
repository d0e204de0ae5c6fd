package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndToEndStorageOutage stops the storage server under a running lecternd (as a
// crash would) on S3 and SMB. While it is down, every request that needs storage
// answers 503 with Retry-After and the stable code, liveness stays up and readiness
// goes down; nothing is lost: once the server is back, the upload begun before the
// outage resumes and completes, both files download intact, and `lectern fsck` finds
// the store clean (the files are handouts, so it authenticates them).
func TestEndToEndStorageOutage(t *testing.T) {
	for name, backend := range testBackends() {
		if name == "disk" {
			continue // the local disk has no server to stop
		}
		t.Run(name, func(t *testing.T) { storageOutage(t, backend(t)) })
	}
}

func storageOutage(t *testing.T, b testBackend) {
	if !b.server.Restartable() {
		t.Skip("the storage server comes from the environment and cannot be stopped by the tests")
	}
	e, p := newE2E(t, b.args...)
	tus := func(extra ...string) []string { return append([]string{"Tus-Resumable", "1.0.0"}, extra...) }

	// Before: one stored file, and an upload a third of the way.
	stored, storedSum := randomFile(t, e.work, 2_000_000)
	storedData, _ := os.ReadFile(stored)
	loc := e.createUpload("stored.pdf", "handout", len(storedData))
	done := e.patch(loc, 0, storedData, 204)
	storedURL, storedKey := done.Get("Lectern-Content-Url"), done.Get("Lectern-Content-Key")

	const size, first = 3_000_000, 1_000_000
	path, sum := randomFile(t, e.work, size)
	data, _ := os.ReadFile(path)
	loc = e.createUpload("deck.pdf", "handout", size)
	e.patch(loc, 0, data[:first], 204)

	b.server.Stop(t)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			b.server.Start(t)
		}
	})

	unavailable := func(what string, resp *http.Response, body []byte) {
		t.Helper()
		wantUnavailable(t, what+" with the storage down", resp, body)
	}
	resp, body := e.send("GET", "/readyz", "", "", nil)
	unavailable("GET /readyz", resp, body)
	if resp, body := e.send("GET", "/healthz", "", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz with the storage down: %d, want 200 (the process is alive): %s", resp.StatusCode, body)
	}
	resp, body = e.send("GET", storedURL, e.presenter, "", nil)
	unavailable("GET content", resp, body)
	resp, body = e.send("PATCH", loc, e.presenter, "application/offset+octet-stream", data[first:],
		tus("Upload-Offset", strconv.Itoa(first))...)
	unavailable("PATCH", resp, body)
	resp, body = e.send("POST", "/v1/conferences", e.admin, "application/json",
		[]byte(`{"id":"during","organizer":"sip:bob@example.com"}`))
	unavailable("POST /v1/conferences", resp, body)

	b.server.Start(t)
	restarted = true
	deadline := time.Now().Add(time.Minute)
	for {
		resp, body := e.send("GET", "/readyz", "", "", nil)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready a minute after the storage came back: %d %s", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// After: the upload resumes where the storage says it is, and completes.
	off, err := strconv.Atoi(e.call("HEAD", loc, e.presenter, "", 200, nil, tus()...).Get("Upload-Offset"))
	if err != nil || off < 0 || off > first {
		t.Fatalf("offset after the outage %d (%v), want 0..%d", off, err, first)
	}
	done = e.patch(loc, off, data[off:], 204)
	if got := e.downloadInRanges(done.Get("Lectern-Content-Url"), done.Get("Lectern-Content-Key")); got != sum {
		t.Fatal("the upload finished after the outage differs from the file")
	}
	if got := e.downloadInRanges(storedURL, storedKey); got != storedSum {
		t.Fatal("the file stored before the outage differs from the upload")
	}
	e.call("POST", "/v1/conferences", e.admin, `{"id":"after","organizer":"sip:bob@example.com"}`, 201, nil)
	if code := p.stop(t); code != 0 {
		t.Fatalf("lecternd exited with %d on SIGTERM", code)
	}
	fsck(t, e, b)
}

// createUpload creates a tus upload of size bytes of a file named name, for purpose
// "slide" or "handout", and returns its path.
func (e *e2e) createUpload(name, purpose string, size int) string {
	e.t.Helper()
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte(name)) + ",purpose " + base64.StdEncoding.EncodeToString([]byte(purpose))
	loc := e.call("POST", "/v1/conferences/e2e/uploads", e.presenter, "", 201, nil,
		"Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(size), "Upload-Metadata", meta).Get("Location")
	return loc[strings.Index(loc, "/v1/"):]
}

// patch sends data at offset to the upload at path loc and checks the status.
func (e *e2e) patch(loc string, offset int, data []byte, want int) http.Header {
	e.t.Helper()
	resp, body := e.send("PATCH", loc, e.presenter, "application/offset+octet-stream", data,
		"Tus-Resumable", "1.0.0", "Upload-Offset", strconv.Itoa(offset))
	if resp.StatusCode != want {
		e.t.Fatalf("PATCH at %d: %d, want %d: %s", offset, resp.StatusCode, want, bytes.TrimSpace(body))
	}
	return resp.Header
}

// wantUnavailable checks an answer to a request the storage could not serve: 503, a
// Retry-After in seconds, and the error code storage_unavailable.
func wantUnavailable(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%s: %d, want 503: %s", what, resp.StatusCode, body)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 0 {
		t.Errorf("%s: Retry-After %q, want a number of seconds", what, resp.Header.Get("Retry-After"))
	}
	var shape struct{ Error struct{ Code string } }
	if err := json.Unmarshal(body, &shape); err != nil || shape.Error.Code != "storage_unavailable" {
		t.Errorf("%s: body %s, want the error code storage_unavailable", what, body)
	}
}
