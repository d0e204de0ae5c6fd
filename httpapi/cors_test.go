package httpapi

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/layout"
)

const (
	appOrigin   = "https://app.example.org"
	otherOrigin = "https://evil.example.net"
)

// headerList splits a comma-separated header value (all its lines) into canonical
// names.
func headerList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, http.CanonicalHeaderKey(p))
			}
		}
	}
	return out
}

func wantListed(t *testing.T, h http.Header, name string, want ...string) {
	t.Helper()
	got := headerList(h, name)
	for _, w := range want {
		if !slices.Contains(got, http.CanonicalHeaderKey(w)) {
			t.Errorf("%s = %q lacks %s", name, h.Values(name), w)
		}
	}
}

func wantNoCORS(t *testing.T, r reply) {
	t.Helper()
	for k := range r.header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("header %s: %q, want no CORS header", k, r.header.Values(k))
		}
	}
}

// corsEnv is a server allowing appOrigin, with a route that counts the requests that
// reach it past authentication.
func corsEnv(t *testing.T) (*env, *atomic.Int64) {
	t.Helper()
	var reached atomic.Int64
	e := newEnv(t, func(cfg *Config) {
		cfg.CORS.Origins = []string{appOrigin}
		cfg.Routes = append(cfg.Routes, func(s *Server, api *gin.RouterGroup) {
			s.AddCORSHeaders([]string{"Test-Request"}, []string{"Test-Answer"})
			seen := func(c *gin.Context) {
				reached.Add(1)
				c.Header("Test-Answer", "yes")
				c.Status(http.StatusNoContent)
			}
			api.PUT("/test-admin", s.Require(RoleAdmin, nil), seen)
			api.OPTIONS("/test-options", seen)
		})
	})
	return e, &reached
}

func preflight(origin, method string, headers ...string) map[string]string {
	return map[string]string{
		"Origin": origin, "Access-Control-Request-Method": method,
		"Access-Control-Request-Headers": strings.Join(headers, ","),
	}
}

// TestCORSPreflight: a preflight, which carries no token, from an allowed origin is
// answered (204) before authentication, on routes with and without an OPTIONS
// handler, with the methods and headers a browser client needs; one from another
// origin is refused in the error shape; neither reaches a handler.
func TestCORSPreflight(t *testing.T) {
	e, reached := corsEnv(t)
	content := ContentPath(testOrg, testConf, testName)
	tests := []struct {
		name, path, origin, method string
		headers                    []string
		want                       int
	}{
		{"content GET", content, appOrigin, "GET", []string{"Authorization", "Range", "If-None-Match", "If-Range"}, 204},
		{"authenticated PUT", "/v1/test-admin", appOrigin, "PUT", []string{"Authorization", "Content-Type", "Test-Request"}, 204},
		{"events", "/v1/conferences/" + testConf + "/events", appOrigin, "GET", []string{"Authorization", "Last-Event-ID"}, 204},
		{"route with its own OPTIONS", "/v1/test-options", appOrigin, "DELETE", []string{"Authorization"}, 204},
		{"other origin", content, otherOrigin, "GET", []string{"Authorization"}, 403},
		{"other origin, authenticated PUT", "/v1/test-admin", otherOrigin, "PUT", []string{"Authorization"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodOptions, tt.path, preflight(tt.origin, tt.method, tt.headers...), nil)
			if !slices.Contains(headerList(r.header, "Vary"), "Origin") {
				t.Errorf("Vary %q lacks Origin", r.header.Values("Vary"))
			}
			if tt.want == 403 {
				wantError(t, r, http.StatusForbidden, CodeForbidden)
				wantNoCORS(t, r)
				return
			}
			if r.status != tt.want {
				t.Fatalf("preflight: %d %s, want %d", r.status, r.body, tt.want)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tt.origin {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, tt.origin)
			}
			wantListed(t, r.header, "Access-Control-Allow-Methods", tt.method)
			wantListed(t, r.header, "Access-Control-Allow-Headers", tt.headers...)
			if r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("Access-Control-Allow-Credentials is sent; tokens are not cookies")
			}
			if r.header.Get("Access-Control-Max-Age") == "" {
				t.Errorf("no Access-Control-Max-Age")
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d preflights reached a handler", n)
	}
}

// TestCORSActualRequests: answers to an allowed origin carry its name and expose the
// headers a client reads, errors (401, 404) included so that the page can read them;
// another origin is refused without CORS headers; a request without Origin gets none
// either, but Vary: Origin.
func TestCORSActualRequests(t *testing.T) {
	e, reached := corsEnv(t)
	e.put(layout.Conference{OrgHash: testOrg, ID: testConf}.ContentKey(testName), []byte("0123456789"))
	signed := e.auth.SignedContentURL(ContentPath(testOrg, testConf, testName), time.Hour)
	admin := e.token(RoleAdmin, "")
	tests := []struct {
		name, method, path, origin string
		header                     map[string]string
		want                       int
		expose                     []string
	}{
		{"content", "GET", signed, appOrigin, nil, 200, []string{"ETag", "Content-Length", "Accept-Ranges", "Last-Modified"}},
		{"content range", "GET", signed, appOrigin, map[string]string{"Range": "bytes=2-4"}, 206, []string{"Content-Range", "ETag"}},
		{"content unsigned", "GET", ContentPath(testOrg, testConf, testName), appOrigin, nil, 401, []string{"WWW-Authenticate", "Retry-After", "Location"}},
		{"authenticated", "PUT", "/v1/test-admin", appOrigin, bearer(admin), 204, []string{"Test-Answer"}},
		{"no route", "GET", "/v1/nothing", appOrigin, nil, 404, nil},
		{"same origin", "GET", signed, "", nil, 200, nil},
		{"no origin", "GET", signed, "-", nil, 200, nil},
		{"other origin", "GET", signed, otherOrigin, nil, 403, nil},
		{"other origin authenticated", "PUT", "/v1/test-admin", otherOrigin, bearer(admin), 403, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			for k, v := range tt.header {
				h[k] = v
			}
			origin := tt.origin
			switch origin {
			case "-":
				origin = ""
			case "":
				origin = e.srv.URL // the server's own origin: not a CORS request
			}
			if origin != "" {
				h["Origin"] = origin
			}
			before := reached.Load()
			r := e.do(tt.method, tt.path, h, nil)
			if r.status != tt.want {
				t.Fatalf("%d %s, want %d", r.status, r.body, tt.want)
			}
			if !slices.Contains(headerList(r.header, "Vary"), "Origin") {
				t.Errorf("Vary %q lacks Origin", r.header.Values("Vary"))
			}
			if tt.origin != appOrigin {
				wantNoCORS(t, r)
				if tt.want == 403 {
					wantError(t, r, http.StatusForbidden, CodeForbidden)
					if reached.Load() != before {
						t.Fatalf("a request from another origin reached the handler")
					}
				}
				return
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, appOrigin)
			}
			wantListed(t, r.header, "Access-Control-Expose-Headers", tt.expose...)
			for _, name := range tt.expose {
				if name != "Retry-After" && name != "Location" && name != "Test-Answer" && r.header.Get(name) == "" {
					t.Errorf("the answer has no %s to expose", name)
				}
			}
		})
	}
}

// TestCORSOptionsThatIsNotAPreflight: an OPTIONS without
// Access-Control-Request-Method (a tus client asking for the server's extensions)
// reaches its route and gets the normal CORS headers.
func TestCORSOptionsThatIsNotAPreflight(t *testing.T) {
	e, reached := corsEnv(t)
	r := e.do(http.MethodOptions, "/v1/test-options", map[string]string{"Origin": appOrigin}, nil)
	if r.status != http.StatusNoContent || reached.Load() != 1 || r.header.Get("Test-Answer") != "yes" {
		t.Fatalf("%d %q, reached %d: the OPTIONS was not served by its route", r.status, r.body, reached.Load())
	}
	if r.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("Access-Control-Allow-Origin %q", r.header.Get("Access-Control-Allow-Origin"))
	}
	wantListed(t, r.header, "Access-Control-Expose-Headers", "Test-Answer", "ETag")
}

// TestNoCORSWithoutOrigins: without origins nothing changes: no CORS header, and a
// preflight on a route without OPTIONS is 405 as before.
func TestNoCORSWithoutOrigins(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodOptions, ContentPath(testOrg, testConf, testName), preflight(appOrigin, "GET", "Authorization"), nil)
	wantError(t, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	wantNoCORS(t, r)
	e.put(layout.Conference{OrgHash: testOrg, ID: testConf}.ContentKey(testName), []byte("x"))
	signed := e.auth.SignedContentURL(ContentPath(testOrg, testConf, testName), time.Hour)
	r = e.do("GET", signed, map[string]string{"Origin": otherOrigin}, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	wantNoCORS(t, r)
	e.api.AddCORSHeaders([]string{"X"}, []string{"Y"}) // no-op, no panic
}

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in, want string // want "" = refused
	}{
		{"https://app.example.org", "https://app.example.org"},
		{"HTTPS://App.Example.ORG", "https://app.example.org"},
		{"https://app.example.org:443", "https://app.example.org"},
		{"http://localhost:80", "http://localhost"},
		{"http://localhost:5173", "http://localhost:5173"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{"https://[::1]", "https://[::1]"},
		{"https://app.example.org:0443", "https://app.example.org"},
		{"http://localhost:05173", "http://localhost:5173"},
		{"https://[0:0:0:0:0:0:0:1]:8443", "https://[::1]:8443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.1:8080", ""},
		{"https://app.example.org.", ""},
		{"https://app..example.org", ""},
		{"https://app.example.org:0", ""},
		{"https://app.example.org:65536", ""},
		{"*", ""},
		{"null", ""},
		{"app.example.org", ""},
		{"https://app.example.org/", ""},
		{"https://app.example.org/app", ""},
		{"https://app.example.org?x", ""},
		{"https://app.example.org#x", ""},
		{"https://user@app.example.org", ""},
		{"https://app.example.org:", ""},
		{"ftp://app.example.org", ""},
		{"https://", ""},
		{"https://*.example.org", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeOrigin(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrBadOrigin) {
					t.Fatalf("NormalizeOrigin(%q) = %q, %v; want ErrBadOrigin", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseOrigins(t *testing.T) {
	got, err := ParseOrigins(" https://a.example , http://localhost:3000,,")
	if err != nil || !slices.Equal(got, []string{"https://a.example", "http://localhost:3000"}) {
		t.Fatalf("%q, %v", got, err)
	}
	if got, err := ParseOrigins(""); err != nil || got != nil {
		t.Fatalf("empty: %q, %v", got, err)
	}
	if _, err := ParseOrigins("https://a.example,*"); !errors.Is(err, ErrBadOrigin) {
		t.Fatalf("with *: %v", err)
	}
	auth, err := NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Content: newEnv(t).bucket, Auth: auth, CORS: CORSConfig{Origins: []string{"https://a.example/"}}})
	if !errors.Is(err, ErrBadOrigin) {
		t.Fatalf("New with a bad origin: %v", err)
	}
}
