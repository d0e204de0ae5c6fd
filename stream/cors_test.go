package stream

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/confapi"
)

const browserOrigin = "https://app.example.org"

// startWithCORS is backend.start with the API allowing browserOrigin and the
// conference routes (for the event stream) beside the upload endpoint, as lecternd
// serves them.
func startWithCORS(t *testing.T) *instance {
	t.Helper()
	be := newBackend(t)
	hub := events.NewHub(64)
	eng, err := conference.New(conference.Config{Bucket: be.bucket, KEK: testKEK, Now: be.clock.Now, Logger: discardLogger(), Events: hub})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Engine: eng, Bucket: be.bucket, UploadKey: testUploadKey, Now: be.clock.Now, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	api, err := httpapi.New(httpapi.Config{
		Content: be.bucket, Auth: be.auth, Logger: discardLogger(),
		CORS:       httpapi.CORSConfig{Origins: []string{browserOrigin}},
		ErrorRules: confapi.ErrorRules(),
		Routes:     []httpapi.RouteRegistrar{confapi.Routes(confapi.Config{Engine: eng, Events: hub, Done: done}), h.Routes()},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(api.Handler())
	t.Cleanup(func() {
		close(done)
		srv.Close()
		_ = eng.Close(context.Background())
	})
	return &instance{t: t, be: be, engine: eng, h: h, srv: srv, client: srv.Client()}
}

// listed reports whether a comma-separated header (all its lines) names want.
func listed(h http.Header, name, want string) bool {
	for _, v := range h.Values(name) {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), want) {
				return true
			}
		}
	}
	return false
}

// TestCORSForBrowserUploads: a browser tus client on an allowed origin (tus-js-client,
// Uppy) gets its preflights answered without a token, and can read what the creation
// and the completing PATCH answer (Location, Upload-Offset, the Lectern-Content-*
// headers), a 401 included; another origin is refused before anything is created.
func TestCORSForBrowserUploads(t *testing.T) {
	in := startWithCORS(t)
	conf := in.conference("conf-cors")
	tok := in.token(httpapi.RolePresenter, conf, "sip:p@example.com")
	uploads := "/v1/conferences/" + conf + "/uploads"
	origin := map[string]string{"Origin": browserOrigin}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	wantCORS := func(t *testing.T, r reply, expose ...string) {
		t.Helper()
		if got := r.header.Values("Access-Control-Allow-Origin"); !slices.Equal(got, []string{browserOrigin}) {
			t.Fatalf("Access-Control-Allow-Origin %q, want once %q (%v)", got, browserOrigin, r)
		}
		for _, e := range expose {
			if !listed(r.header, "Access-Control-Expose-Headers", e) {
				t.Errorf("Access-Control-Expose-Headers %q lacks %s", r.header.Values("Access-Control-Expose-Headers"), e)
			}
			if r.header.Get(e) == "" {
				t.Errorf("the answer has no %s", e)
			}
		}
	}

	t.Run("preflights without a token", func(t *testing.T) {
		for _, p := range []struct {
			path, method string
			headers      []string
		}{
			{uploads, "POST", []string{"Authorization", "Tus-Resumable", "Upload-Length", "Upload-Metadata", "Upload-Defer-Length", "Upload-Checksum"}},
			{uploads + "/0123456789abcdef0123456789abcdef", "PATCH", []string{"Authorization", "Tus-Resumable", "Upload-Offset", "Content-Type", "Upload-Checksum"}},
			{uploads + "/0123456789abcdef0123456789abcdef", "HEAD", []string{"Authorization", "Tus-Resumable"}},
			{uploads + "/0123456789abcdef0123456789abcdef", "DELETE", []string{"Authorization", "Tus-Resumable"}},
		} {
			r := in.do("OPTIONS", p.path, "", map[string]string{"Origin": browserOrigin, "Tus-Resumable": "-",
				"Access-Control-Request-Method": p.method, "Access-Control-Request-Headers": strings.Join(p.headers, ",")}, nil)
			if r.status != http.StatusNoContent {
				t.Fatalf("preflight %s %s: %v", p.method, p.path, r)
			}
			wantCORS(t, r)
			if !listed(r.header, "Access-Control-Allow-Methods", p.method) {
				t.Errorf("Access-Control-Allow-Methods %q lacks %s", r.header.Values("Access-Control-Allow-Methods"), p.method)
			}
			for _, h := range p.headers {
				if !listed(r.header, "Access-Control-Allow-Headers", h) {
					t.Errorf("%s: Access-Control-Allow-Headers %q lacks %s", p.method, r.header.Values("Access-Control-Allow-Headers"), h)
				}
			}
		}
	})

	data := []byte("the deck, in a browser")
	var loc string
	t.Run("creation and completion", func(t *testing.T) {
		r := in.do("POST", uploads, tok, with(origin, "Upload-Length", strconv.Itoa(len(data)),
			"Upload-Metadata", meta("filename", "deck.pdf")), nil)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %v", r)
		}
		wantCORS(t, r, "Location", "Tus-Resumable", "Upload-Expires")
		loc = locationPath(t, r)
		r = in.do("PATCH", loc, tok, with(origin, "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"), data)
		if r.status != http.StatusNoContent {
			t.Fatalf("patch: %v", r)
		}
		wantCORS(t, r, "Upload-Offset", "Tus-Resumable", HeaderContentURL, HeaderContentKey, HeaderContentName, HeaderContentSize)
		r = in.do("HEAD", loc, tok, origin, nil)
		if r.status != http.StatusOK {
			t.Fatalf("head: %v", r)
		}
		wantCORS(t, r, "Upload-Offset", "Upload-Length")
	})

	t.Run("401 readable", func(t *testing.T) {
		r := in.do("POST", uploads, "", with(origin, "Upload-Length", "1"), nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("create without a token: %v", r)
		}
		wantCORS(t, r, "WWW-Authenticate")
	})

	t.Run("other origin", func(t *testing.T) {
		r := in.do("POST", uploads, tok, map[string]string{"Origin": "https://evil.example.net",
			"Upload-Length": "1", "Upload-Metadata": meta("filename", "x.pdf")}, nil)
		if r.status != http.StatusForbidden || r.header.Get("Location") != "" {
			t.Fatalf("create from another origin: %v, Location %q", r, r.header.Get("Location"))
		}
		for k := range r.header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("answer to another origin has %s", k)
			}
		}
		for _, method := range []string{"POST", "PATCH"} {
			r = in.do("OPTIONS", uploads, "", map[string]string{"Origin": "https://evil.example.net", "Tus-Resumable": "-",
				"Access-Control-Request-Method": method}, nil)
			if r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Tus-Version") != "" {
				t.Fatalf("preflight from another origin: %v %v", r, r.header)
			}
		}
	})
}

// TestCORSEventStream: the event stream, read with fetch from an allowed origin (an
// EventSource cannot send the token), answers with the origin allowed before its first
// event.
func TestCORSEventStream(t *testing.T) {
	in := startWithCORS(t)
	conf := in.conference("conf-sse")
	tok := in.token(httpapi.RoleAttendee, conf, "sip:a@example.com")
	r := in.do("OPTIONS", "/v1/conferences/"+conf+"/events", "", map[string]string{"Origin": browserOrigin, "Tus-Resumable": "-",
		"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization,last-event-id"}, nil)
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != browserOrigin ||
		!listed(r.header, "Access-Control-Allow-Headers", "Last-Event-ID") {
		t.Fatalf("preflight: %v %v", r, r.header)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", in.srv.URL+"/v1/conferences/"+conf+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", browserOrigin)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != browserOrigin {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	if !listed(resp.Header, "Vary", "Origin") {
		t.Fatalf("Vary %q", resp.Header.Values("Vary"))
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q, %v", line, err)
	}
}
