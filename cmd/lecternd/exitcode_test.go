package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi/tlscert"
)

// closedPort returns 127.0.0.1:<a port nothing listens on>.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// writeSecret puts a file into the data dir's config folder with that mode.
func writeSecret(t *testing.T, work, name, contents string, mode os.FileMode) {
	t.Helper()
	dir := filepath.Join(work, "lectern-data", configDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(contents), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// TestExitCodes: a start that fails on the operator's mistake exits 2, which the
// systemd unit does not restart (RestartPreventExitStatus=2); one that fails on
// something a restart may cure (a storage server down, the address taken) exits 1.
// The real binary, started as an operator would.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, work string) []string // more flags
		env   []string
		code  int
		say   string
	}{
		{"unknown backend scheme", func(*testing.T, string) []string { return []string{"--backend", "ftp://x/y"} },
			nil, 2, "unknown scheme"},
		{"unknown S3 URL parameter", func(*testing.T, string) []string { return []string{"--backend", "s3://bucket/p?bogus=1"} },
			nil, 2, "unknown parameter"},
		{"credentials in an S3 URL", func(*testing.T, string) []string {
			return []string{"--backend", "s3://AKIDEXAMPLE:hunter2secret@bucket/p"}
		}, nil, 2, "credentials in the URL are refused"},
		{"password in an SMB URL", func(*testing.T, string) []string {
			return []string{"--backend", "smb://user:hunter2secret@127.0.0.1/share"}
		}, nil, 2, "a password in the URL is refused"},
		{"SMB password file missing", func(t *testing.T, work string) []string {
			return []string{"--backend", "smb://user@127.0.0.1/share?password_file=" + filepath.Join(work, "nope")}
		}, nil, 2, "password_file"},
		{"TLS certificate missing", func(*testing.T, string) []string {
			return []string{"--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.pem"}
		}, nil, 2, "TLS certificate: open /nonexistent.pem"},
		{"certificate and key swapped", func(t *testing.T, work string) []string {
			certPEM, keyPEM, err := tlscert.SelfSigned([]string{"127.0.0.1"}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cert, key := filepath.Join(work, "cert.pem"), filepath.Join(work, "key.pem")
			if err := os.WriteFile(cert, keyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(key, certPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"--tls-cert", cert, "--tls-key", key}
		}, nil, 2, "TLS certificate"},
		{"kek.hex readable by others", func(t *testing.T, work string) []string {
			writeSecret(t, work, kekFile, strings.Repeat("ab", 32), 0o644)
			return nil
		}, nil, 2, "chmod 600"},
		{"kek.hex not 64 hex digits", func(t *testing.T, work string) []string {
			writeSecret(t, work, kekFile, "abcd\n", 0o600)
			return nil
		}, nil, 2, "does not hold 32 bytes in hex"},
		{"token-secret.hex readable by the group", func(t *testing.T, work string) []string {
			writeSecret(t, work, tokenSecretFile, strings.Repeat("ab", 32), 0o640)
			return nil
		}, nil, 2, "chmod 600"},
		{"listen address without a port", func(*testing.T, string) []string { return []string{"--listen", "127.0.0.1"} },
			nil, 2, "missing port"},

		{"address in use", func(t *testing.T, _ string) []string {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { taken.Close() })
			return []string{"--listen", taken.Addr().String()}
		}, nil, 1, "address already in use"},
		// A storage server that is down at start is not the operator's mistake: it may
		// be back by the next restart.
		{"SMB server unreachable", func(t *testing.T, _ string) []string {
			return []string{"--backend", "smb://user@" + closedPort(t) + "/share"}
		}, []string{"LECTERN_SMB_PASSWORD=x"}, 1, "storage unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			args := append([]string{"--listen", "127.0.0.1:0"}, tt.setup(t, work)...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, lecterndBinary(t), args...)
			cmd.Dir = work
			cmd.Env = append(append(os.Environ(), "LECTERN_CONFIG="), tt.env...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.code || !strings.Contains(string(out), tt.say) {
				t.Fatalf("exit %d, want %d, saying %q:\n%s", code, tt.code, tt.say, out)
			}
			if strings.Contains(string(out), "hunter2secret") {
				t.Fatalf("the password is in the output:\n%s", out)
			}
			if strings.Contains(string(out), "TLS certificate: TLS certificate") {
				t.Fatalf("the error repeats its prefix:\n%s", out)
			}
		})
	}
}

// TestUnreachableS3IsNotAConfigMistake: an S3 server that is down at start is no
// configuration mistake (exit 2 would keep systemd from restarting): the S3 backend
// opens without contacting the server, and lecternd assembles and serves, /readyz
// saying 503 until the server answers.
func TestUnreachableS3IsNotAConfigMistake(t *testing.T) {
	p := newInProcess(t, "--backend", "s3://bucket/p?endpoint=http://"+closedPort(t)+"&max_attempts=1")
	a, err := assemble(context.Background(), p.cfg, p.sec, p.log)
	if err != nil {
		t.Fatalf("assemble with the S3 server down: %v (exit code %d)", err, exitCode(err))
	}
	_ = a.close(time.Second, p.log)
}
