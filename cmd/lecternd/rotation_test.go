package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Rotating the token secret without a hard cut: the old secret moves to
// token-secret.previous.hex and a new one takes its place. Tokens of the old secret
// keep working while that file exists and stop when it is removed; a malformed or
// world-readable file is refused at start.
func TestLecterndTokenSecretRotation(t *testing.T) {
	work := t.TempDir()
	dataDir := filepath.Join(work, "lectern-data")
	cfgDir := filepath.Join(dataDir, "config")
	p := start(t, work)
	if code := p.stop(t); code != 0 {
		t.Fatalf("first start: exit %d", code)
	}
	saved, err := os.ReadFile(filepath.Join(cfgDir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	oldToken := strings.TrimSpace(string(saved))
	oldSecret, err := os.ReadFile(filepath.Join(cfgDir, tokenSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, tokenSecretFile), []byte(hex.EncodeToString(fresh)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	previous := filepath.Join(cfgDir, previousSecretsFile)

	status := func(t *testing.T) int {
		t.Helper()
		p := start(t, work)
		defer p.stop(t)
		resp, _ := get(t, client(t, dataDir), "https://"+p.addr+"/v1/token", oldToken)
		return resp.StatusCode
	}
	tests := []struct {
		name     string
		previous string // contents of the previous-secrets file; "" removes it
		mode     os.FileMode
		want     int
	}{
		{"old secret listed", "# rotated out on 22 Nov\n\n" + string(oldSecret), 0o600, 200},
		{"old secret no longer listed", "", 0, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.Remove(previous)
			if tt.previous != "" {
				if err := os.WriteFile(previous, []byte(tt.previous), tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			if got := status(t); got != tt.want {
				t.Fatalf("a token of the old secret: %d, want %d", got, tt.want)
			}
		})
	}

	for _, bad := range []struct {
		name, contents string
		mode           os.FileMode
	}{
		{"not hex", "not a secret\n", 0o600},
		{"too short", "abcd\n", 0o600},
		{"readable by others", string(oldSecret), 0o644},
	} {
		t.Run("refused: "+bad.name, func(t *testing.T) {
			if err := os.WriteFile(previous, []byte(bad.contents), bad.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(previous, bad.mode); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(previous)
			out, code := runLecternd(t, work)
			if code != 2 || !strings.Contains(out, previousSecretsFile) {
				t.Fatalf("lecternd with a bad %s: exit %d (want 2, naming the file):\n%s", previousSecretsFile, code, out)
			}
			if strings.Contains(out, strings.TrimSpace(string(oldSecret))) {
				t.Fatal("the secret is in the error output")
			}
		})
	}
}

// runLecternd runs lecternd in work until it exits (a start that fails) or 20 s pass
// (a server that started: killed, exit code -1), returning its output and exit code.
func runLecternd(t *testing.T, work string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lecterndBinary(t), "--listen", "127.0.0.1:0")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "LECTERN_CONFIG=")
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}

// A KEK rotation by the documented steps (docs/operations.md): the old KEK goes into
// kek.previous.hex, a new one into kek.hex and its id into kek-id; the next start
// rewraps every conference and says so; after that the new KEK alone opens them.
func TestLecterndKEKRotation(t *testing.T) {
	work := t.TempDir()
	dataDir := filepath.Join(work, "lectern-data")
	cfgDir := filepath.Join(dataDir, "config")
	p := start(t, work)
	saved, err := os.ReadFile(filepath.Join(cfgDir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(saved))
	c := client(t, dataDir)
	req, _ := http.NewRequest("POST", "https://"+p.addr+"/v1/conferences", strings.NewReader(`{"id":"rot","organizer":"sip:o@contoso.com"}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create conference: %d", resp.StatusCode)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}

	oldKEK, err := os.ReadFile(filepath.Join(cfgDir, kekFile))
	if err != nil {
		t.Fatal(err)
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		t.Fatal(err)
	}
	write := func(name, contents string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(cfgDir, name), []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(previousKEKsFile, "kek-1 "+strings.TrimSpace(string(oldKEK))+"\n")
	write(kekFile, hex.EncodeToString(fresh)+"\n")
	write(kekIDFile, "kek-2\n")

	conferenceStatus := func(t *testing.T, p *proc) int {
		t.Helper()
		resp, _ := get(t, client(t, dataDir), "https://"+p.addr+"/v1/conferences/rot", admin)
		return resp.StatusCode
	}
	p = start(t, work)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), "every conference is wrapped with the current KEK") {
		if time.Now().After(deadline) {
			t.Fatalf("no rewrap report in the log:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), `"rewrapped":1`) {
		t.Fatalf("the rewrap report does not count the conference:\n%s", p.stderr.String())
	}
	if got := conferenceStatus(t, p); got != http.StatusOK {
		t.Fatalf("conference during the rotation: %d", got)
	}
	p.stop(t)
	if strings.Contains(p.stderr.String(), strings.TrimSpace(string(oldKEK))) || strings.Contains(p.stderr.String(), hex.EncodeToString(fresh)) {
		t.Fatal("a KEK is in the log")
	}

	// The previous KEK is no longer needed.
	if err := os.Remove(filepath.Join(cfgDir, previousKEKsFile)); err != nil {
		t.Fatal(err)
	}
	p = start(t, work)
	if got := conferenceStatus(t, p); got != http.StatusOK {
		t.Fatalf("conference with the new KEK alone: %d", got)
	}
	p.stop(t)

	// A previous-KEK file that repeats the current id is refused at start.
	write(previousKEKsFile, "kek-2 "+strings.TrimSpace(string(oldKEK))+"\n")
	if out, code := runLecternd(t, work); code != 2 || !strings.Contains(out, previousKEKsFile) {
		t.Fatalf("a previous KEK with the current id: exit %d:\n%s", code, out)
	}
}
