package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi/tlscert"
)

// TestUploadSendsTheTokenOnlyToTheServer: the upload's URL is what the server's
// creation answer says (Location), and the requests that follow (PATCH, HEAD, the
// result) go there. A Location on another origin (a proxy rewriting it to http://
// on the same port, another host name) must not receive the bearer token: a
// presenter's token would cross the network in clear text, or reach a host it was
// never meant for.
func TestUploadSendsTheTokenOnlyToTheServer(t *testing.T) {
	srv := newFakeTus(t)
	const size = 10
	file := filepath.Join(t.TempDir(), "deck.png")
	if err := os.WriteFile(file, []byte(strings.Repeat("x", size)), 0o600); err != nil {
		t.Fatal(err)
	}
	const uploadPath = "/v1/conferences/conf-a/uploads/u1"
	tests := []struct {
		name     string
		location string
		keep     bool // the token goes with the requests to the upload
	}{
		{"same origin", "https://" + srv.addr + uploadPath, true},
		{"same origin, relative", uploadPath, true},
		{"https to http, same host and port", "http://" + srv.addr + uploadPath, false},
		{"other host name, same port", "https://localhost:" + srv.port + uploadPath, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.reset(tt.location)
			a := &app{server: "https://" + srv.addr, token: "secret-token", insecure: true, progress: "never",
				stdout: io.Discard, stderr: io.Discard, env: func(string) (string, bool) { return "", false }}
			err := a.upload(context.Background(), file, uploadOptions{conference: "conf-a", retries: 1, stateDir: t.TempDir()})
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			seen := srv.requests()
			if len(seen) < 2 || seen[0].method != http.MethodPost {
				t.Fatalf("requests %+v, want the creation POST and more", seen)
			}
			if seen[0].auth != "Bearer secret-token" {
				t.Fatalf("the creation POST to the server carried Authorization %q", seen[0].auth)
			}
			var patched bool
			for _, r := range seen[1:] {
				patched = patched || r.method == http.MethodPatch
				if sent := r.auth != ""; sent != tt.keep {
					t.Errorf("%s %s to %s carried Authorization %q; want it sent: %v", r.method, r.path, tt.location, r.auth, tt.keep)
				}
			}
			if !patched {
				t.Fatalf("requests %+v: the bytes were never sent to the upload", seen)
			}
		})
	}
}

type seenRequest struct{ method, path, auth string }

// fakeTus answers the tus requests of one upload on one 127.0.0.1 port, over TLS and
// in clear (a sniffListener), recording each request's Authorization header.
type fakeTus struct {
	addr, port string

	mu       sync.Mutex
	location string // the creation answer's Location
	seen     []seenRequest
}

func newFakeTus(t *testing.T) *fakeTus {
	t.Helper()
	certPEM, keyPEM, err := tlscert.SelfSigned([]string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTus{addr: ln.Addr().String()}
	_, f.port, _ = net.SplitHostPort(f.addr)
	hs := &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		done <- hs.Serve(&sniffListener{Listener: ln, cfg: &tls.Config{Certificates: []tls.Certificate{cert}}})
	}()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return f
}

func (f *fakeTus) reset(location string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.location, f.seen = location, nil
}

func (f *fakeTus) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

func (f *fakeTus) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, seenRequest{r.Method, r.URL.Path, r.Header.Get("Authorization")})
	loc := f.location
	f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Tus-Resumable", "1.0.0")
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/uploads"):
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodHead:
		w.Header().Set("Upload-Offset", "0")
		w.Header().Set("Upload-Length", r.Header.Get("Upload-Length"))
	case r.Method == http.MethodPatch:
		// Completes the upload; the result headers are left out so that the client
		// also asks for the result at the upload's URL.
		off, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		w.Header().Set("Upload-Offset", strconv.FormatInt(off+int64(len(body)), 10))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/result"):
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"x.png","url":"/v1/content/o/conf-a/x.png","key":"00","size":10,"purpose":"slide"}`)
	default:
		http.Error(w, "unexpected", http.StatusMethodNotAllowed)
	}
}
