package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers/freezer"
	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/conformance/servers/samba"
)

// hungTimeout is the backends' timeout= in TestEndToEndHungStorage: short, so that
// the test runs in seconds. LECTERN_HUNG_TIMEOUT overrides it ("default": leave the
// parameter out), to measure the bounds operations.md gives.
func hungTimeout() string {
	if v := os.Getenv("LECTERN_HUNG_TIMEOUT"); v != "" {
		return v
	}
	return "1s"
}

// TestEndToEndHungStorage: the storage server hangs (a freezer proxy in front of it
// passes no byte any more, yet keeps every connection open), on S3 and SMB. Every
// request that needs the storage is answered 503 with Retry-After, including a PATCH
// whose body was still coming when the storage hung; before, on SMB such a request
// never ended, and on S3 a request took minutes. Once
// the server answers again, lecternd is ready and serves again.
func TestEndToEndHungStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("two lecternd processes and storage servers: not under -short")
	}
	for _, name := range []string{"smb", "s3"} {
		t.Run(name, func(t *testing.T) {
			e, f := hungBackend(t, name)
			path, _ := randomFile(t, e.work, 100_000)
			data, _ := os.ReadFile(path)
			contentURL := e.patch(e.createUpload("a.pdf", "handout", len(data)), 0, data, 204).Get("Lectern-Content-Url")
			loc := e.createUpload("big.pdf", "handout", 8<<20)
			leftLoc := e.createUpload("left.pdf", "handout", 4<<20)

			// A PATCH under way when the storage hangs: 3 MiB, then the rest.
			body, feed := io.Pipe()
			patched := make(chan answer, 1)
			go func() {
				patched <- e.do(context.Background(), body, "PATCH", loc, e.presenter, "application/offset+octet-stream",
					"Tus-Resumable", "1.0.0", "Upload-Offset", "0")
			}()
			chunk := make([]byte, 1<<20)
			for range 3 {
				if _, err := feed.Write(chunk); err != nil {
					t.Fatalf("PATCH body: %v", err)
				}
			}
			f.Freeze()
			go func() {
				for range 5 {
					if _, err := feed.Write(chunk); err != nil {
						return
					}
				}
				feed.Close()
			}()

			reqs := []struct {
				what                           string
				method, path, token, ctype, in string
			}{
				{"GET content", "GET", contentURL, e.presenter, "", ""},
				{"POST conference", "POST", "/v1/conferences", e.admin, "application/json", `{"id":"during","organizer":"sip:bob@example.com"}`},
				{"GET /readyz", "GET", "/readyz", "", "", ""},
			}
			answers := make([]answer, len(reqs))
			var wg sync.WaitGroup
			for i, r := range reqs {
				wg.Go(func() {
					answers[i] = e.do(context.Background(), bytes.NewReader([]byte(r.in)), r.method, r.path, r.token, r.ctype)
				})
			}
			wg.Wait()
			for i, r := range reqs {
				answers[i].want503(t, r.what)
			}
			(<-patched).want503(t, "PATCH under way")

			// A PATCH whose client leaves while the storage hangs: its handler ends
			// too (before, on SMB, it ran for as long as the storage hung).
			waitInFlight(t, e, "every request before answered", func(n int) bool { return n == 1 })
			left, leave := context.WithCancel(context.Background())
			leftBody, leftFeed := io.Pipe()
			leftDone := make(chan answer, 1)
			go func() {
				leftDone <- e.do(left, leftBody, "PATCH", leftLoc, e.presenter, "application/offset+octet-stream",
					"Tus-Resumable", "1.0.0", "Upload-Offset", "0")
			}()
			go func() { _, _ = leftFeed.Write(chunk) }()
			waitInFlight(t, e, "the PATCH being served", func(n int) bool { return n >= 2 })
			leave()
			// The body ends too: net/http's client waits for its body writer to stop
			// before Do returns, and that writer waits for more of the body.
			leftFeed.CloseWithError(context.Canceled)
			<-leftDone
			waitInFlight(t, e, "the left PATCH's handler ended", func(n int) bool { return n == 1 })

			f.Unfreeze()
			waitReady(t, e)
			e.call("POST", "/v1/conferences", e.admin, `{"id":"after","organizer":"sip:bob@example.com"}`, 201, nil)
		})
	}
}

// hungBackend starts lecternd on backend name ("smb" or "s3"), reached through a
// freezer, with timeout=hungTimeout().
func hungBackend(t *testing.T, name string) (*e2e, *freezer.Proxy) {
	t.Helper()
	var backend string
	var f *freezer.Proxy
	q := url.Values{}
	if v := hungTimeout(); v != "default" {
		q.Set("timeout", v)
	}
	switch name {
	case "smb":
		srv := samba.Start(t)
		folder := srv.NewFolder(t)
		f = freezer.Start(t, srv.Host)
		u, err := url.Parse(srv.URL(folder))
		if err != nil {
			t.Fatal(err)
		}
		u.Host = f.Addr()
		q.Set("password_file", srv.PasswordFile(t))
		u.RawQuery = q.Encode()
		backend = u.String()
	case "s3":
		srv := minio.Start(t)
		bucket := srv.NewBucket(t)
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		ep, err := url.Parse(srv.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		f = freezer.Start(t, ep.Host)
		ep.Host = f.Addr()
		q.Set("path_style", "true")
		q.Set("region", srv.Region)
		q.Set("endpoint", ep.String())
		backend = "s3://" + bucket + "/lectern?" + q.Encode()
	}
	e, _ := newE2E(t, "--backend", backend)
	return e, f
}

// answer is what a request got: its status (0: no answer within hungLimit), headers
// and body, and how long it took.
type answer struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	err    error
}

// hungLimit bounds the wait for one answer: far above the bounds with any timeout=
// the test uses, so that a request that would never end fails the test rather than
// hanging it.
const hungLimit = 3 * time.Minute

// do sends a request from any goroutine (it never fails the test itself); the client
// gives up when ctx ends, or after hungLimit.
func (e *e2e) do(ctx context.Context, body io.Reader, method, path, token, ctype string, headers ...string) answer {
	ctx, cancel := context.WithTimeout(ctx, hungLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, body)
	if err != nil {
		return answer{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: data, err: err, took: time.Since(start)}
}

// want503 checks a for 503 with Retry-After and the code storage_unavailable.
func (a answer) want503(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s with the storage hung: %d after %v", what, a.status, a.took.Round(100*time.Millisecond))
	if a.err != nil || a.status != http.StatusServiceUnavailable {
		t.Errorf("%s with the storage hung: status %d, error %v, want 503: %s", what, a.status, a.err, a.body)
		return
	}
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s <= 0 {
		t.Errorf("%s: Retry-After %q, want a number of seconds", what, a.header.Get("Retry-After"))
	}
	var shape struct{ Error struct{ Code string } }
	if err := json.Unmarshal(a.body, &shape); err != nil || shape.Error.Code != "storage_unavailable" {
		t.Errorf("%s: body %s, want the error code storage_unavailable", what, a.body)
	}
}

// waitReady waits until /readyz answers 200, for at most a minute.
func waitReady(t *testing.T, e *e2e) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		a := e.do(context.Background(), nil, "GET", "/readyz", "", "")
		if a.status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready a minute after the storage came back: %d %v %s", a.status, a.err, a.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitInFlight waits, for at most hungLimit, until lecternd's gauge of requests in
// flight (which counts the /metrics request asking) satisfies ok.
func waitInFlight(t *testing.T, e *e2e, what string, ok func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(hungLimit)
	last := -1
	for {
		a := e.do(context.Background(), nil, "GET", "/metrics", "", "")
		for _, line := range strings.Split(string(a.body), "\n") {
			if v, found := strings.CutPrefix(line, "lectern_http_requests_in_flight "); found {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					last = n
				}
			}
		}
		if last >= 0 && ok(last) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: lectern_http_requests_in_flight is %d after %v", what, last, hungLimit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
