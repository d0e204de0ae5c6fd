package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEndToEndKill9 kills lecternd with SIGKILL (no signal handler, no flush, no
// deferred call) while a PATCH is streaming, on every backend, starts it again on the
// same storage and checks that nothing acknowledged is lost: the slide set created
// before is there, and the upload resumes from a point the storage vouches for (never
// past what was sent), completes, and downloads intact.
func TestEndToEndKill9(t *testing.T) {
	for name, backend := range testBackends() {
		t.Run(name, func(t *testing.T) { killMidUpload(t, backend(t)) })
	}
}

func killMidUpload(t *testing.T, b testBackend) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"--listen", addr}, b.args...)
	e, p := newE2E(t, args...)

	var set struct{ ID string }
	e.call("POST", "/v1/conferences/e2e/slidesets", e.presenter, `{"name":"Before the crash"}`, 201, &set)

	// More than the S3 backend's 8 MiB part is sent, so that there a multipart upload
	// is under way when the process dies.
	const size, sent = 13_000_000, 10_000_000
	path, sum := randomFile(t, e.work, size)
	data, _ := os.ReadFile(path)
	// A handout: the server references it on completion, so fsck authenticates it.
	loc := e.createUpload("crash.pdf", "handout", size)

	// A client that has sent 7 MB of the file and is still sending.
	body, feed := io.Pipe()
	req, err := http.NewRequest("PATCH", e.base+loc, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+e.presenter)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	answered := make(chan error, 1)
	go func() {
		resp, err := e.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	if _, err := feed.Write(data[:sent]); err != nil {
		t.Fatal(err)
	}
	// Where the stored bytes can be seen, the kill waits for a megabyte of them, so
	// that there is something to keep.
	const kept = 1 << 20
	if b.files != nil {
		waitForPart(t, filepath.Join(b.files(e.work), "uploads", "e2e", loc[strings.LastIndex(loc, "/")+1:]), kept)
	}
	if b.leftovers != nil {
		waitFor(t, "a multipart upload under way", func() bool { return len(b.leftovers(t)) > 0 })
	}

	p.kill(t)
	feed.CloseWithError(io.ErrClosedPipe)
	select {
	case <-answered: // the connection died with the process
	case <-time.After(time.Minute):
		t.Fatal("the PATCH to a killed lecternd did not end")
	}

	p2 := start(t, e.work, args...)
	defer func() {
		if t.Failed() {
			return
		}
		// Stopped cleanly, the store passes fsck: every metadata file decrypts, the
		// copies agree, every referenced content file authenticates.
		if code := p2.stop(t); code != 0 {
			t.Fatalf("lecternd exited with %d on SIGTERM", code)
		}
		fsck(t, e, b)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the restarted lecternd's log:\n%s", p2.stderr.String())
		}
	})
	if b.leftovers != nil {
		// The write that died left its multipart upload: nothing names it, the
		// storage keeps it, and the sweep's LeftoverRemover is what removes it.
		if n := b.removeLeftovers(t); n < 1 {
			t.Fatalf("removed %d leftovers after the kill, want the dead write's multipart upload", n)
		}
		if left := b.leftovers(t); len(left) != 0 {
			t.Fatalf("leftovers still there: %q", left)
		}
	}
	var sets struct{ Slidesets []struct{ ID string } }
	e.call("GET", "/v1/conferences/e2e/slidesets", e.presenter, "", 200, &sets)
	found := false
	for _, s := range sets.Slidesets {
		found = found || s.ID == set.ID
	}
	if !found {
		t.Fatalf("the slide set acknowledged before the kill is gone: %+v", sets)
	}

	off, err := strconv.Atoi(e.call("HEAD", loc, e.presenter, "", 200, nil, "Tus-Resumable", "1.0.0").Get("Upload-Offset"))
	if err != nil || off < 0 || off > sent {
		t.Fatalf("offset after the kill %d (%v), want 0..%d", off, err, sent)
	}
	// An upload that grows in place (disk, SMB) keeps what reached the file, up to
	// its last whole segment, though no request finished.
	if b.files != nil && off < kept-(64<<10) {
		t.Fatalf("offset after the kill %d: the megabyte that was in part 0 was lost", off)
	}
	t.Logf("the upload resumes at %d of the %d bytes sent before the kill", off, sent)
	done := e.patch(loc, off, data[off:], 204)
	if got := e.downloadInRanges(done.Get("Lectern-Content-Url"), done.Get("Lectern-Content-Key")); got != sum {
		t.Fatal("the upload finished after the kill differs from the file")
	}
}

// fsck runs `lectern fsck` on the store lecternd used and fails the test unless it
// finds no problem and authenticated at least one content file in full.
func fsck(t *testing.T, e *e2e, b testBackend) {
	t.Helper()
	backend := "file://" + filepath.Join(e.dataDir, "store")
	for i, a := range b.args {
		if a == "--backend" && i+1 < len(b.args) {
			backend = b.args[i+1]
		}
	}
	cmd := exec.Command(lecternCLI(t), "-o", "json", "fsck", "--backend", backend,
		"--kek-file", filepath.Join(e.dataDir, "config", kekFile))
	out, err := cmd.Output()
	var rep struct {
		ContentFiles int `json:"content_files"`
		Problems     []struct{ Severity, Kind, Key string }
	}
	if err != nil || json.Unmarshal(out, &rep) != nil || len(rep.Problems) != 0 || rep.ContentFiles == 0 {
		t.Fatalf("lectern fsck: %v\n%s", err, out)
	}
}

// waitForPart waits until the upload folder dir holds a part of at least n bytes.
func waitForPart(t *testing.T, dir string, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(filepath.Join(dir, "part-0000000000")); err == nil && fi.Size() >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	entries, _ := os.ReadDir(dir)
	t.Fatalf("no part of %d bytes in %s within a minute: %v", n, dir, entries)
}

// waitFor polls cond until it holds, for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends lecternd with SIGKILL and waits for it.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(time.Minute):
		t.Fatal("lecternd did not die on SIGKILL")
	}
}

// TestEndToEndCLISurvivesKill9: lecternd is killed with SIGKILL while `lectern upload`
// sends a file in one PATCH, and started again on the same address; the CLI, paused
// across the crash (SIGSTOP, SIGCONT) so that the kill lands in the middle of its
// request, retries, asks for the offset and finishes the upload by itself, and the
// file downloads intact.
func TestEndToEndCLISurvivesKill9(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"--listen", addr}
	e, p := newE2E(t, args...)
	path, sum := randomFile(t, e.work, 40_000_000) // under the default 50 MB limit

	var stdout, stderr lockedBuf // read while the CLI may still write
	cli := exec.Command(lecternCLI(t), "--server", e.base, "--ca-file", filepath.Join(e.dataDir, "config", certFile),
		"upload", "--conference", "e2e", "-o", "json", path)
	cli.Env = append(os.Environ(), "LECTERN_TOKEN="+e.presenter, "LECTERN_STATE_DIR="+t.TempDir())
	cli.Stdout, cli.Stderr = &stdout, &stderr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cli.Wait() }()
	t.Cleanup(func() {
		_ = cli.Process.Kill()
	})

	// Once 8 MiB are in the upload's part 0, the CLI is paused and lecternd killed.
	uploads := filepath.Join(e.dataDir, "store", "uploads", "e2e")
	deadline := time.Now().Add(time.Minute)
	for {
		if found, _ := filepath.Glob(filepath.Join(uploads, "*", "part-0000000000")); len(found) == 1 {
			if fi, err := os.Stat(found[0]); err == nil && fi.Size() >= 8<<20 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("the CLI ended (%v) before its upload reached 8 MiB:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CLI's upload never reached 8 MiB; its output:\n%s", stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cli.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	p.kill(t)
	start(t, e.work, args...)
	if err := cli.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("lectern upload across the crash: %v\n%s", err, stderr.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("lectern upload did not finish after the crash:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "retrying") {
		t.Errorf("the CLI did not go through a retry, so the kill missed its request:\n%s", stderr.String())
	}
	var res struct{ URL, Key string }
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatalf("lectern upload printed %q: %v", stdout.String(), err)
	}
	if got := e.downloadInRanges(res.URL[strings.Index(res.URL, "/v1/"):], res.Key); got != sum {
		t.Fatal("the file uploaded across the crash differs from the original")
	}
	t.Logf("the CLI across the crash:\n%s", stderr.String())
}
