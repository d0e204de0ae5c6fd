package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/storage"
)

const (
	testOrg  = "0123456789abcdef0123456789abcdef"
	testConf = "conf-1"
	testName = "xfedcba9876543210fedcba9876543210.epng"
)

var testSecret = bytes.Repeat([]byte{7}, 32)

// env is a real HTTPS server over the API, on 127.0.0.1 at a free port.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	api    *Server
	bucket *storage.Bucket
	auth   *Authority
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type envOption func(*Config)

// newEnv serves content from a real disk backend in a temporary folder.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvWithDriver(t, diskDriver(t), opts...)
}

func diskDriver(t testing.TB) storage.Driver {
	t.Helper()
	d, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func newEnvWithDriver(t *testing.T, d storage.Driver, opts ...envOption) *env {
	t.Helper()
	auth, err := NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	bucket := storage.NewBucket(d)
	cfg := Config{
		Content: bucket,
		Auth:    auth,
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, api: s, bucket: bucket, auth: auth, logs: logs}
}

func (e *env) token(role Role, conf string) string {
	e.t.Helper()
	tok, _, err := e.auth.Mint(TokenSpec{Role: role, Conference: conf, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) put(key string, data []byte) storage.Attributes {
	e.t.Helper()
	a, err := e.bucket.PutBytes(context.Background(), key, data, storage.Condition{})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; rawPath, when it holds escapes or dot segments, is sent as is.
func (e *env) do(method, rawPath string, header map[string]string, body io.Reader) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+"/", body)
	if err != nil {
		e.t.Fatal(err)
	}
	// Opaque keeps the path exactly as written (no client-side cleaning), so that
	// traversal attempts reach the server as an attacker would send them.
	path, query, _ := strings.Cut(rawPath, "?")
	req.URL.Opaque = "//" + req.URL.Host + path
	req.URL.RawQuery = query
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// wantError checks the status and the JSON error shape.
func wantError(t *testing.T, r reply, status int, code Code) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %q", ct, r.body)
	}
	var eb ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body %q is not the error shape: %v", r.body, err)
	}
	if eb.Error.Code != code || eb.Error.Status != status || eb.Error.Message == "" {
		t.Fatalf("error %+v, want code %s status %d and a message", eb.Error, code, status)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newBenchServer(b *testing.B, s *Server) *httptest.Server {
	b.Helper()
	srv := httptest.NewTLSServer(s.Handler())
	b.Cleanup(srv.Close)
	return srv
}

func storageForFuzz(f *testing.F) *storage.Bucket {
	f.Helper()
	b := storage.NewBucket(diskDriver(f))
	if _, err := b.PutBytes(context.Background(), "content/"+testOrg+"/"+testConf+"/"+testName, []byte("c"), storage.Condition{}); err != nil {
		f.Fatal(err)
	}
	return b
}
