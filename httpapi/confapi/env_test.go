package confapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
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
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/confapi"
)

// env is a real HTTPS server (127.0.0.1, free port) over the engine on a disk
// backend in a temporary folder.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	engine *conference.Engine
	auth   *httpapi.Authority
	hub    *events.Hub
	server *httpapi.Server
	stop   func() // closes the server, the engine and the storage (also at cleanup)
	kek    [32]byte
	secret []byte
	dir    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, envOptions{})
}

// newEnvWithClock is newEnv with the engine reading time from now (nil: time.Now).
func newEnvWithClock(t *testing.T, now func() time.Time) *env {
	t.Helper()
	return newEnvWith(t, envOptions{now: now})
}

// envOptions vary the test server; the zero value is newEnv's.
type envOptions struct {
	now func() time.Time // the engine's clock; nil: time.Now
	// maxXMLBody is confapi's MaxXMLBody: 0 means 64 KiB (small, so that the limit
	// is cheap to cross), -1 means confapi's default.
	maxXMLBody int64
	// same, when set, makes the server another process over the same data: the same
	// folder, KEK and token secret (a restart, or a second instance of a pool).
	same *env
	// authNow is the token Authority's clock (minting, and verifying tokens and
	// signed URLs); nil: time.Now.
	authNow func() time.Time
	// logger is the server's and the engine's; nil: discard.
	logger *slog.Logger
	// engine, when set, wraps the engine the routes use (to step in between calls).
	engine func(*conference.Engine) confapi.Engine
}

func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	now := o.now
	maxXML := o.maxXMLBody
	switch maxXML {
	case 0:
		maxXML = 64 << 10
	case -1:
		maxXML = 0
	}
	dir := t.TempDir()
	var kek [32]byte
	rand.Read(kek[:])
	secret := make([]byte, 32)
	rand.Read(secret)
	if o.same != nil {
		dir, kek, secret = o.same.dir, o.same.kek, o.same.secret
	}
	d, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	bucket := storage.NewBucket(d)
	hub := events.NewHub(64)
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	eng, err := conference.New(conference.Config{Bucket: bucket, KEK: kek, Events: hub, Logger: logger, SnapshotInterval: -1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.NewAuthority(secret)
	if err != nil {
		t.Fatal(err)
	}
	if o.authNow != nil {
		auth = auth.WithClock(o.authNow)
	}
	var routesEngine confapi.Engine = eng
	if o.engine != nil {
		routesEngine = o.engine(eng)
	}
	s, err := httpapi.New(httpapi.Config{Content: bucket, Auth: auth, Logger: logger,
		Routes: []httpapi.RouteRegistrar{confapi.Routes(confapi.Config{Engine: routesEngine, Events: hub, Heartbeat: time.Second, MaxXMLBody: maxXML})}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	stop := sync.OnceFunc(func() {
		srv.CloseClientConnections()
		srv.Close()
		eng.Close(context.Background())
		bucket.Close()
	})
	t.Cleanup(stop)
	return &env{t: t, srv: srv, engine: eng, auth: auth, hub: hub, server: s, stop: stop, kek: kek, secret: secret, dir: dir}
}

func (e *env) token(role httpapi.Role, conf string) string {
	e.t.Helper()
	tok, _, err := e.auth.Mint(httpapi.TokenSpec{Role: role, Conference: conf, Subject: "sip:" + string(role) + "@contoso.com", TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) expiredToken(role httpapi.Role, conf string) string {
	e.t.Helper()
	past := e.auth.WithClock(func() time.Time { return time.Now().Add(-3 * time.Hour) })
	tok, _, err := past.Mint(httpapi.TokenSpec{Role: role, Conference: conf, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
}

// code returns the stable error code of an error reply.
func (r reply) code() string {
	var b httpapi.ErrorBody
	if json.Unmarshal(r.body, &b) != nil {
		return ""
	}
	return string(b.Error.Code)
}

func (e *env) do(method, path, token, contentType string, body any, headers ...string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
		if contentType == "" {
			contentType = "application/json"
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

func (e *env) must(want int, r reply) reply {
	e.t.Helper()
	if r.status != want {
		e.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

// conference creates a conference and returns presenter and attendee tokens for it.
func (e *env) conference(id string) (presenter, attendee string) {
	e.t.Helper()
	e.must(201, e.do("POST", "/v1/conferences", e.token(httpapi.RoleAdmin, ""), "", map[string]any{"id": id, "organizer": "sip:org@contoso.com"}))
	return e.token(httpapi.RolePresenter, id), e.token(httpapi.RoleAttendee, id)
}
