package main

import (
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lectern/lectern/httpapi"
)

// testConfig is the configuration of a lecternd whose data dir is dataDir.
func testConfig(t *testing.T, dataDir string, args ...string) Config {
	t.Helper()
	cfg, err := loadConfig(append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}, args...), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBootstrapAdminToken: the operator ends up with exactly one admin token whatever
// failed on the first start, and no token is minted for a secret the operator provided
// or for one whose token was deleted on purpose.
func TestBootstrapAdminToken(t *testing.T) {
	tests := []struct {
		name string
		// before runs against the data dir before the start that is checked.
		before    func(t *testing.T, dataDir string)
		wantToken bool
	}{
		{"first start", nil, true},
		{"first start after one with a wrong --tls-cert", func(t *testing.T, dataDir string) {
			missing := filepath.Join(dataDir, "no-such-cert.pem")
			cfg := testConfig(t, dataDir, "--tls-cert", missing, "--tls-key", missing)
			if _, err := bootstrap(cfg, slog.New(slog.DiscardHandler), io.Discard); err == nil {
				t.Fatal("a start with a missing certificate file succeeded")
			}
		}, true},
		{"first start after one with a bad previous-secrets file", func(t *testing.T, dataDir string) {
			dir := filepath.Join(dataDir, configDirName)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			prev := filepath.Join(dir, previousSecretsFile)
			if err := os.WriteFile(prev, []byte("not hex\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := bootstrap(testConfig(t, dataDir), slog.New(slog.DiscardHandler), io.Discard); err == nil {
				t.Fatal("a start with a bad previous-secrets file succeeded")
			}
			if err := os.Remove(prev); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"first start after one that failed saving the token", func(t *testing.T, dataDir string) {
			// A non-empty folder where the token goes: the secret is created, then
			// saving the token fails (as on a full disk).
			blocker := filepath.Join(dataDir, configDirName, adminTokenFile)
			if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
			if _, err := bootstrap(testConfig(t, dataDir), slog.New(slog.DiscardHandler), io.Discard); err == nil {
				t.Fatal("saving the admin token over a folder succeeded")
			}
			if !fileExists(filepath.Join(dataDir, configDirName, tokenSecretFile)) {
				t.Fatal("the failing start did not get as far as creating the secret")
			}
			if err := os.RemoveAll(blocker); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"secret provided by the operator", func(t *testing.T, dataDir string) {
			dir := filepath.Join(dataDir, configDirName)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			secret := hex.EncodeToString([]byte(strings.Repeat("s", httpapi.MinSecretLength)))
			if err := os.WriteFile(filepath.Join(dir, tokenSecretFile), []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"restart after the admin token was deleted", func(t *testing.T, dataDir string) {
			if _, err := bootstrap(testConfig(t, dataDir), slog.New(slog.DiscardHandler), io.Discard); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dataDir, configDirName, adminTokenFile)); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			if tt.before != nil {
				tt.before(t, dataDir)
			}
			var out strings.Builder
			sec, err := bootstrap(testConfig(t, dataDir), slog.New(slog.DiscardHandler), &out)
			if err != nil {
				t.Fatal(err)
			}
			tokenPath := filepath.Join(dataDir, configDirName, adminTokenFile)
			saved, err := os.ReadFile(tokenPath)
			if !tt.wantToken {
				if err == nil || jwtPattern.MatchString(out.String()) {
					t.Fatalf("a token was minted: file error %v, printed %q", err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("no admin token saved: %v; printed %q", err, out.String())
			}
			tok := strings.TrimSpace(string(saved))
			if !strings.Contains(out.String(), tok) {
				t.Fatalf("the saved token was not printed: %q", out.String())
			}
			auth, err := httpapi.NewAuthority(sec.TokenSecret)
			if err != nil {
				t.Fatal(err)
			}
			if claims, err := auth.Verify(tok); err != nil || claims.Role != httpapi.RoleAdmin {
				t.Fatalf("the saved token does not verify as admin with the secret in use: %v %+v", err, claims)
			}
			if fileExists(filepath.Join(dataDir, configDirName, adminTokenPendingFile)) {
				t.Fatal("the pending marker is left after the token was saved")
			}
			// The next start prints nothing and keeps the token.
			out.Reset()
			if _, err := bootstrap(testConfig(t, dataDir), slog.New(slog.DiscardHandler), &out); err != nil {
				t.Fatal(err)
			}
			again, err := os.ReadFile(tokenPath)
			if err != nil || string(again) != string(saved) || out.Len() != 0 {
				t.Fatalf("the restart changed the token (%v) or printed %q", err, out.String())
			}
		})
	}
}

// TestConcurrentFirstStartsMintOneAdminToken: two lecternd sharing a data dir and
// starting at the same moment print one admin token between them, the one saved.
// (Both printed one in about a third of the runs; only one of the two was saved.)
func TestConcurrentFirstStartsMintOneAdminToken(t *testing.T) {
	for range 30 {
		dataDir := t.TempDir()
		outs := make([]strings.Builder, 2)
		var wg sync.WaitGroup
		for i := range outs {
			cfg := testConfig(t, dataDir)
			wg.Go(func() {
				if _, err := bootstrap(cfg, slog.New(slog.DiscardHandler), &outs[i]); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		saved, err := os.ReadFile(filepath.Join(dataDir, "config", adminTokenFile))
		if err != nil {
			t.Fatal(err)
		}
		printed := 0
		for i := range outs {
			if strings.Contains(outs[i].String(), "admin token") {
				printed++
				if !strings.Contains(outs[i].String(), strings.TrimSpace(string(saved))) {
					t.Fatalf("the token printed is not the one saved:\n%s", outs[i].String())
				}
			}
		}
		if printed != 1 {
			t.Fatalf("%d admin tokens printed by two concurrent first starts, want 1", printed)
		}
	}
}
