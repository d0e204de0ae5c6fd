package confapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi"
)

// testClock is a clock the test moves by hand, so that expiry is tested without
// sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// logBuffer collects the server's log lines from every request goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// in returns e reporting to t, for use inside a subtest.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func signedURLPath(conf, name string) string {
	return "/v1/conferences/" + conf + "/content/" + name + "/signed-url"
}

// mintSignedURL asks for a signed URL and fails the test unless it gets one.
func (e *env) mintSignedURL(conf, name, token string, body any) httpapi.SignedURL {
	e.t.Helper()
	r := e.must(200, e.do("POST", signedURLPath(conf, name), token, "", body))
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		e.t.Fatalf("a signed URL answer with Cache-Control %q: caches must not keep a credential", cc)
	}
	var s httpapi.SignedURL
	r.json(e.t, &s)
	return s
}

// storeRandom stores n random bytes as content of the given purpose.
func (e *env) storeRandom(conf string, p conference.Purpose, n int) conference.Stored {
	e.t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	st, err := e.engine.StoreContent(context.Background(), conf, p, "png", bytes.NewReader(data), int64(n))
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// TestSignedURLDownloadsWithoutAToken: an attendee mints a signed URL, and a client
// that sends no Authorization header (an <img>, a download manager) gets the same
// bytes as the bearer download, with Range and HEAD, until the URL's expiry and not
// one second later. The signature appears in no log line.
func TestSignedURLDownloadsWithoutAToken(t *testing.T) {
	clock := newTestClock()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnvWith(t, envOptions{authNow: clock.now, logger: logger})
	presenter, attendee := e.conference("signed")
	start := clock.now()

	var sigs []string
	for _, tt := range []struct {
		name    string
		purpose conference.Purpose
		token   string
	}{
		{"slide content as attendee", conference.SlideContent, attendee},
		{"handout as attendee", conference.HandoutContent, attendee},
		{"slide content as presenter", conference.SlideContent, presenter},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			clock.set(start)
			st := e.storeRandom("signed", tt.purpose, 100_000)
			bearer := e.must(200, e.do("GET", st.URLPath, attendee, "", nil))

			s := e.mintSignedURL("signed", st.Name, tt.token, nil)
			path, query, ok := strings.Cut(s.URL, "?")
			if !ok || path != st.URLPath {
				t.Fatalf("url %q is not the content path %q with a query", s.URL, st.URLPath)
			}
			q, err := url.ParseQuery(query)
			if err != nil {
				t.Fatal(err)
			}
			wantExp := time.Unix(start.Add(httpapi.DefaultSignedURLTTL).Unix(), 0).UTC()
			if !s.Expires.Equal(wantExp) || q.Get("exp") != strconv.FormatInt(wantExp.Unix(), 10) {
				t.Fatalf("expires %v, exp=%s; want %v (an hour)", s.Expires, q.Get("exp"), wantExp)
			}
			sigs = append(sigs, q.Get("sig"))

			got := e.must(200, e.do("GET", s.URL, "", "", nil))
			if !bytes.Equal(got.body, bearer.body) {
				t.Fatalf("signed download: %d bytes, bearer download %d bytes, not the same", len(got.body), len(bearer.body))
			}
			part := e.must(206, e.do("GET", s.URL, "", "", nil, "Range", "bytes=1000-1999"))
			if !bytes.Equal(part.body, bearer.body[1000:2000]) || part.header.Get("Content-Range") != "bytes 1000-1999/"+strconv.Itoa(len(bearer.body)) {
				t.Fatalf("range: Content-Range %q, %d bytes", part.header.Get("Content-Range"), len(part.body))
			}
			head := e.must(200, e.do("HEAD", s.URL, "", "", nil))
			if head.header.Get("Content-Length") != strconv.Itoa(len(bearer.body)) {
				t.Fatalf("HEAD Content-Length %q, want %d", head.header.Get("Content-Length"), len(bearer.body))
			}

			clock.set(s.Expires) // the last second it is good for
			e.must(206, e.do("GET", s.URL, "", "", nil, "Range", "bytes=0-0"))
			clock.set(s.Expires.Add(time.Second))
			late := e.do("GET", s.URL, "", "", nil)
			if late.status != 401 || late.code() != "unauthenticated" || !strings.Contains(late.header.Get("WWW-Authenticate"), "signed URL expired") {
				t.Fatalf("after expiry: %d %s, WWW-Authenticate %q", late.status, late.body, late.header.Get("WWW-Authenticate"))
			}
		})
	}

	log := logs.String()
	if !strings.Contains(log, "signed content URL minted") || !strings.Contains(log, "/v1/content/:org/:conf/:name") {
		t.Fatalf("the log capture missed the mint or the downloads:\n%s", log)
	}
	for _, sig := range sigs {
		if sig == "" || strings.Contains(log, sig) || strings.Contains(log, url.QueryEscape(sig)) {
			t.Fatalf("signature %q is empty or in the log:\n%s", sig, log)
		}
	}
}

// TestSignedURLLifetime: ttl_seconds is 1 to 86400 (absent: an hour), and the URL
// never outlives the token that asked for it.
func TestSignedURLLifetime(t *testing.T) {
	clock := newTestClock()
	e := newEnvWith(t, envOptions{authNow: clock.now})
	e.conference("ttl")
	st := e.storeRandom("ttl", conference.SlideContent, 1000)
	maxTTL := int64(httpapi.MaxSignedURLTTL / time.Second)
	tests := []struct {
		name     string
		tokenTTL time.Duration
		body     any
		ct       string
		want     time.Duration // from now; 0: the request is refused
		status   int
		code     string
	}{
		{name: "no body: an hour", tokenTTL: 48 * time.Hour, want: time.Hour, status: 200},
		{name: "empty JSON body", tokenTTL: 48 * time.Hour, body: "", ct: "application/json", want: time.Hour, status: 200},
		{name: "empty object", tokenTTL: 48 * time.Hour, body: map[string]any{}, want: time.Hour, status: 200},
		{name: "a minute", tokenTTL: 48 * time.Hour, body: map[string]any{"ttl_seconds": 60}, want: time.Minute, status: 200},
		{name: "the maximum", tokenTTL: 48 * time.Hour, body: map[string]any{"ttl_seconds": maxTTL}, want: httpapi.MaxSignedURLTTL, status: 200},
		{name: "cut to the token's expiry", tokenTTL: 10 * time.Minute, body: map[string]any{"ttl_seconds": 3600}, want: 10 * time.Minute, status: 200},
		{name: "default cut to the token's expiry", tokenTTL: 5 * time.Minute, want: 5 * time.Minute, status: 200},
		{name: "zero", tokenTTL: time.Hour, body: map[string]any{"ttl_seconds": 0}, status: 400, code: "bad_request"},
		{name: "negative", tokenTTL: time.Hour, body: map[string]any{"ttl_seconds": -1}, status: 400, code: "bad_request"},
		{name: "over a day", tokenTTL: 48 * time.Hour, body: map[string]any{"ttl_seconds": maxTTL + 1}, status: 400, code: "bad_request"},
		{name: "huge", tokenTTL: time.Hour, body: `{"ttl_seconds": 9223372036854775807}`, ct: "application/json", status: 400, code: "bad_request"},
		{name: "a string", tokenTTL: time.Hour, body: map[string]any{"ttl_seconds": "60"}, status: 400, code: "invalid_json"},
		{name: "a fraction", tokenTTL: time.Hour, body: map[string]any{"ttl_seconds": 1.5}, status: 400, code: "invalid_json"},
		{name: "unknown field", tokenTTL: time.Hour, body: map[string]any{"ttl": 60}, status: 400, code: "invalid_json"},
		{name: "not JSON", tokenTTL: time.Hour, body: "ttl=60", ct: "application/x-www-form-urlencoded", status: 415, code: "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			now := clock.now()
			tok, claims, err := e.auth.Mint(httpapi.TokenSpec{Role: httpapi.RoleAttendee, Conference: "ttl", TTL: tt.tokenTTL})
			if err != nil {
				t.Fatal(err)
			}
			r := e.do("POST", signedURLPath("ttl", st.Name), tok, tt.ct, tt.body)
			if r.status != tt.status || r.code() != tt.code {
				t.Fatalf("%d %q, want %d %q: %s", r.status, r.code(), tt.status, tt.code, r.body)
			}
			if tt.status != 200 {
				return
			}
			var s httpapi.SignedURL
			r.json(t, &s)
			want := time.Unix(now.Add(tt.want).Unix(), 0)
			if !s.Expires.Equal(want) || s.Expires.After(claims.ExpiresAt.Time) {
				t.Fatalf("expires %v, want %v (token expires %v)", s.Expires, want, claims.ExpiresAt.Time)
			}
			clock.set(s.Expires)
			e.must(206, e.do("GET", s.URL, "", "", nil, "Range", "bytes=0-0"))
			clock.set(s.Expires.Add(time.Second))
			e.must(401, e.do("GET", s.URL, "", "", nil, "Range", "bytes=0-0"))
			clock.set(now)
		})
	}

	// A token past its expiry but inside the verifier's leeway passes the guard, yet
	// would get a URL that is dead on arrival: refused as expired. (The clock moves on
	// first, so that the token is not older than the conference.)
	now := clock.now().Add(10 * time.Minute)
	clock.set(now)
	past := e.auth.WithClock(func() time.Time { return now.Add(-70 * time.Second) })
	tok, _, err := past.Mint(httpapi.TokenSpec{Role: httpapi.RoleAttendee, Conference: "ttl", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.must(206, e.do("GET", st.URLPath, tok, "", nil, "Range", "bytes=0-0")) // still accepted
	r := e.do("POST", signedURLPath("ttl", st.Name), tok, "", nil)
	if r.status != 401 || r.code() != "unauthenticated" || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("a token in its leeway: %d %s, WWW-Authenticate %q", r.status, r.body, r.header.Get("WWW-Authenticate"))
	}
}

// TestSignedURLRefusals: a signed URL is only minted for content that exists in the
// conference named in the path, by a token of that conference.
func TestSignedURLRefusals(t *testing.T) {
	e := newEnv(t)
	alphaPresenter, alphaAttendee := e.conference("alpha")
	betaPresenter, _ := e.conference("beta")
	inAlpha := e.storeRandom("alpha", conference.SlideContent, 500)
	inBeta := e.storeRandom("beta", conference.SlideContent, 500)
	deleted := e.storeRandom("alpha", conference.HandoutContent, 500)
	if err := e.engine.DeleteContent(context.Background(), "alpha", deleted.Name); err != nil {
		t.Fatal(err)
	}
	admin := e.token(httpapi.RoleAdmin, "")
	tests := []struct {
		name, conf, content, token string
		status                     int
		code                       string
	}{
		{"no token", "alpha", inAlpha.Name, "", 401, "unauthenticated"},
		{"another conference's presenter", "alpha", inAlpha.Name, betaPresenter, 403, "forbidden"},
		{"another conference's content", "alpha", inBeta.Name, alphaAttendee, 404, "not_found"},
		{"content never stored", "alpha", "x0123456789abcdef0123456789abcdef.epng", alphaAttendee, 404, "not_found"},
		{"deleted content", "alpha", deleted.Name, alphaPresenter, 404, "not_found"},
		{"no such conference", "gamma", inAlpha.Name, admin, 404, "not_found"},
		{"dot dot", "alpha", "%2e%2e", alphaAttendee, 400, "invalid_id"},
		{"backslash", "alpha", "a%5cb", alphaAttendee, 400, "invalid_id"},
		{"short hex", "alpha", "x0123.epng", alphaAttendee, 400, "invalid_id"},
		{"upper-case hex", "alpha", "x0123456789ABCDEF0123456789abcdef.epng", alphaAttendee, 400, "invalid_id"},
		{"not a content suffix", "alpha", "0123456789abcdef0123456789abcdef.txt", alphaAttendee, 400, "invalid_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			r := e.do("POST", signedURLPath(tt.conf, tt.content), tt.token, "", nil)
			if r.status != tt.status || r.code() != tt.code {
				t.Fatalf("%d %q, want %d %q: %s", r.status, r.code(), tt.status, tt.code, r.body)
			}
			if strings.Contains(string(r.body), "sig=") {
				t.Fatalf("a refusal carries a signature: %s", r.body)
			}
		})
	}
	// The global admin may mint for any conference, as it may download.
	s := e.mintSignedURL("beta", inBeta.Name, admin, nil)
	e.must(200, e.do("GET", s.URL, "", "", nil))
}
