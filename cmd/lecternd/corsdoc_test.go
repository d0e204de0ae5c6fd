package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestCORSAsDocumented runs lecternd without and with --cors-origins and checks what
// docs/api.md's CORS section says of each: the 403 for an unlisted Origin and
// Vary: Origin come with --cors-origins only (the CORS middleware is installed only
// then); without it an Origin changes nothing. Before, the section stated both
// unconditionally.
func TestCORSAsDocumented(t *testing.T) {
	raw, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(raw), "\n## Browser clients (CORS)\n")
	if start < 0 {
		t.Fatal("docs/api.md has no CORS section")
	}
	section, _, _ := strings.Cut(string(raw)[start+1:], "\n## ")
	section = strings.Join(strings.Fields(section), " ")

	const foreign = "https://elsewhere.example"
	tests := []struct {
		name        string
		args        []string
		foreignCode int    // a GET with an unlisted Origin
		vary        string // on a GET without Origin
		doc         string // what the section must say
	}{
		{"without --cors-origins", nil, 200, "",
			"Without `--cors-origins`, lecternd sends no CORS headers (no `Vary: Origin` either) and refuses no `Origin`"},
		{"with --cors-origins", []string{"--cors-origins=https://app.example.org"}, 403, "Origin",
			"With `--cors-origins` set:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(section, tt.doc) {
				t.Errorf("docs/api.md's CORS section does not say %q", tt.doc)
			}
			e, _ := newE2E(t, tt.args...)
			resp, body := e.send("GET", "/v1/conferences/e2e", e.presenter, "", nil, "Origin", foreign)
			if resp.StatusCode != tt.foreignCode {
				t.Errorf("GET with Origin %s: %d, want %d: %.200s", foreign, resp.StatusCode, tt.foreignCode, body)
			}
			if tt.foreignCode == 200 && resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("GET with Origin %s: Access-Control-Allow-Origin %q without --cors-origins", foreign, resp.Header.Get("Access-Control-Allow-Origin"))
			}
			resp, _ = e.send("GET", "/v1/conferences/e2e", e.presenter, "", nil)
			if got := resp.Header.Get("Vary"); got != tt.vary {
				t.Errorf("GET without Origin: Vary %q, want %q", got, tt.vary)
			}
		})
	}
}

// TestUnlistedOriginIsRefusedOnEveryRoute: with --cors-origins set, the CORS
// middleware runs before every route, so a request from an unlisted Origin is
// 403 forbidden also on the routes that refuse no token holder otherwise (the
// probes, /metrics, /v1/token, the tus OPTIONS); docs/openapi.yaml lists that 403
// for each, which the checked client of newE2E holds it to.
func TestUnlistedOriginIsRefusedOnEveryRoute(t *testing.T) {
	e, _ := newE2E(t, "--cors-origins=https://app.example.org")
	origin := []string{"Origin", "https://elsewhere.example"}
	tus := append([]string{"Tus-Resumable", "1.0.0"}, origin...)
	tests := []struct {
		method, path string
		headers      []string
	}{
		{"GET", "/healthz", origin},
		{"HEAD", "/healthz", origin},
		{"GET", "/readyz", origin},
		{"HEAD", "/readyz", origin},
		{"GET", "/metrics", origin},
		{"GET", "/v1/token", origin},
		{"OPTIONS", "/v1/conferences/e2e/uploads", tus},
		{"OPTIONS", "/v1/conferences/e2e/uploads/0123456789abcdef0123456789abcdef", tus},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := e.send(tt.method, tt.path, e.presenter, "", nil, tt.headers...)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%d, want 403: %.200s", resp.StatusCode, body)
			}
		})
	}
}
