package main

import (
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
