package httpapi

import (
	"net/http"
	"testing"
)

// TestContentAnswersForbidSniffing: stored content is whatever a presenter uploaded,
// and may look like HTML or script. Every answer that carries it (whole, a range, or
// HEAD) must say application/octet-stream and X-Content-Type-Options: nosniff;
// without nosniff a browser opening a content URL could sniff it as HTML and run it
// on the server's origin.
func TestContentAnswersForbidSniffing(t *testing.T) {
	e := newEnv(t)
	data := []byte("<!doctype html><html><script>alert(document.cookie)</script></html>")
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, data)
	path := ContentPath(testOrg, testConf, testName)
	tok := e.token(RoleAttendee, testConf)
	cases := []struct {
		name   string
		method string
		rng    string
		status int
	}{
		{"whole", http.MethodGet, "", http.StatusOK},
		{"range", http.MethodGet, "bytes=0-9", http.StatusPartialContent},
		{"suffix range", http.MethodGet, "bytes=-5", http.StatusPartialContent},
		{"HEAD", http.MethodHead, "", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := bearer(tok)
			if tc.rng != "" {
				h["Range"] = tc.rng
			}
			r := e.do(tc.method, path, h, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if got := r.header.Get("Content-Type"); got != "application/octet-stream" {
				t.Errorf("Content-Type %q, want application/octet-stream", got)
			}
		})
	}
}
