package main

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi"
)

// TestTokenTTL: --ttl takes lecternd's duration spellings, days included, so that the
// long-lived admin token of docs/operations.md ("--ttl 365d") can be minted; what the
// server would refuse is a usage error (exit 2) before any request.
func TestTokenTTL(t *testing.T) {
	if maxTokenTTL != httpapi.MaxTokenTTL {
		t.Fatalf("maxTokenTTL %s, the server's %s", maxTokenTTL, httpapi.MaxTokenTTL)
	}
	s := startServer(t, filepath.Join(t.TempDir(), "lectern-data"))
	admin := s.adminEnv(t)
	day := 24 * time.Hour
	tests := []struct {
		ttl  string // "" sends no --ttl
		want time.Duration
		code int
	}{
		{"", 12 * time.Hour, exitOK}, // the server's default
		{"90m", 90 * time.Minute, exitOK},
		{"8760h", 365 * day, exitOK},
		{"365d", 365 * day, exitOK},
		{"366d", 366 * day, exitOK}, // the longest the server grants
		{"367d", 0, exitUsage},
		{"1d12h", 0, exitUsage},
		{"1.5s", 0, exitUsage},
		{"-1d", 0, exitUsage},
		{"-1h", 0, exitUsage},
		{"0", 0, exitUsage}, // not "the default": the server refuses a 0 lifetime too
		{"0s", 0, exitUsage},
		{"0d", 0, exitUsage},
	}
	for _, tt := range tests {
		t.Run("ttl="+tt.ttl, func(t *testing.T) {
			args := []string{"-o", "json", "token", "--role", "admin"}
			if tt.ttl != "" {
				args = append(args, "--ttl", tt.ttl)
			}
			before := time.Now().Truncate(time.Second)
			r := cli(t, admin, args...)
			after := time.Now()
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tt.code, r.stderr)
			}
			if tt.code != exitOK {
				if !strings.Contains(r.stderr, "--ttl") {
					t.Fatalf("the usage error does not name --ttl: %s", r.stderr)
				}
				return
			}
			var resp tokenResponse
			if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil {
				t.Fatalf("%v\n%s", err, r.stdout)
			}
			// The server stamps the expiry between the two clock readings.
			if resp.ExpiresAt.Before(before.Add(tt.want)) || resp.ExpiresAt.After(after.Add(tt.want)) {
				t.Fatalf("expires_at %s, want %s after a time in [%s, %s]", resp.ExpiresAt, tt.want, before, after)
			}
		})
	}
}

// TestTokenConferenceRequired: a presenter or attendee token is always of one
// conference, so asking for one without --conference is a usage error (exit 2) found
// before any request; what the CLI cannot judge goes to the server. The server here is
// a closed port, so a request that is sent fails with exit 1.
func TestTokenConferenceRequired(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()
	env := map[string]string{"LECTERN_SERVER": closed, "LECTERN_TOKEN": "x"}
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--role", "presenter"}, exitUsage},
		{[]string{"--role", "organizer"}, exitUsage},
		{[]string{"--role", "attendee", "--subject", "bob"}, exitUsage},
		{[]string{"--role", "presenter", "--conference", ""}, exitUsage},
		{[]string{"--role", "admin"}, exitError},                             // global admin: sent
		{[]string{"--role", "presenter", "--conference", "demo"}, exitError}, // sent
		{[]string{"--role", "wizard"}, exitError},                            // the server names the roles
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := cli(t, env, append([]string{"token"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tt.code, r.stderr)
			}
			if tt.code == exitUsage && !strings.Contains(r.stderr, "--conference") {
				t.Fatalf("the usage error does not name --conference: %s", r.stderr)
			}
		})
	}
}
