package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lectern/lectern/cmd/internal/gobuild"
	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/conformance/servers/samba"
)

// binDir holds the commands the tests build, once per test run.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "lecternd-test-bin-"); err != nil {
		panic(err)
	}
	code := m.Run()
	minio.Shutdown()
	samba.Shutdown()
	_ = os.RemoveAll(binDir)
	os.Exit(code)
}

// built is a command built once per test run.
type built struct {
	name, pkg string
	once      sync.Once
	path      string
	err       error
}

var (
	lecterndBuild = &built{name: "lecternd", pkg: "."}
	lecternBuild  = &built{name: "lectern", pkg: "../lectern"}
)

func (b *built) binary(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		b.path = filepath.Join(binDir, b.name)
		b.err = gobuild.Build(context.Background(), "", b.path, b.pkg)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// lecterndBinary is the real server, built once per test run.
func lecterndBinary(t *testing.T) string { return lecterndBuild.binary(t) }

// lecternCLI is the real CLI, built once per test run.
func lecternCLI(t *testing.T) string { return lecternBuild.binary(t) }

// proc is a running lecternd.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stdout *lockedBuf // complete only once the process has exited
	stderr *lockedBuf
	done   chan error
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs lecternd in workDir on a free port of 127.0.0.1 and waits for its
// "listening" log line.
func start(t *testing.T, workDir string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"--listen", "127.0.0.1:0", "--log-format", "json"}, extra...)
	cmd := exec.Command(lecterndBinary(t), args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "LECTERN_CONFIG=") // no stray config from the environment
	p := &proc{cmd: cmd, stdout: &lockedBuf{}, stderr: &lockedBuf{}, done: make(chan error, 1)}
	cmd.Stdout = p.stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		// Under go test -race lecternd is race-built too (gobuild): a race it
		// reports fails the test that drove it, however the process ended.
		if log := p.stderr.String(); strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("lecternd reported a data race:\n%s", log)
		}
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(append(append([]byte(nil), line...), '\n'))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				addrc <- rec.Addr
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.addr = <-addrc:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("lecternd exited before listening: %v\n%s", err, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("lecternd did not listen within a minute:\n%s", p.stderr.String())
	}
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("lecternd did not stop on SIGTERM")
	}
	code := p.cmd.ProcessState.ExitCode()
	if code != 0 {
		t.Logf("lecternd's log:\n%s", p.stderr.String())
	}
	return code
}

// client trusts only the certificate lecternd created, so the test also proves that
// the certificate is valid for 127.0.0.1.
func client(t *testing.T, dataDir string) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dataDir, "config", certFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("certificate file holds no certificate")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func get(t *testing.T, c *http.Client, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

func TestLecterndFirstStartAndRestart(t *testing.T) {
	work := t.TempDir()
	dataDir := filepath.Join(work, "lectern-data")

	p := start(t, work)
	c := client(t, dataDir)
	base := "https://" + p.addr
	resp, _ := get(t, c, base+"/healthz", "")
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	if resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", resp.TLS.Version)
	}
	fingerprint := sha256.Sum256(resp.TLS.PeerCertificates[0].Raw)
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	if resp, body := get(t, c, base+"/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz %d %s", resp.StatusCode, body)
	}

	saved, err := os.ReadFile(filepath.Join(dataDir, "config", adminTokenFile))
	if err != nil {
		t.Fatalf("admin token file: %v", err)
	}
	admin := strings.TrimSpace(string(saved))
	resp, body := get(t, c, base+"/v1/token", admin)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"role":"admin"`) {
		t.Fatalf("admin token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, c, base+"/v1/token", ""); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	for _, f := range []string{kekFile, tokenSecretFile, keyFile, adminTokenFile} {
		fi, err := os.Stat(filepath.Join(dataDir, "config", f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", f, fi.Mode().Perm())
		}
	}
	kek, _ := os.ReadFile(filepath.Join(dataDir, "config", kekFile))
	if len(strings.TrimSpace(string(kek))) != 64 {
		t.Fatalf("KEK file holds %d characters", len(strings.TrimSpace(string(kek))))
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.stderr.String())
	}
	// Output is complete now that the process has exited.
	if tokens := jwtPattern.FindAllString(p.stdout.String(), -1); len(tokens) != 1 || tokens[0] != admin {
		t.Fatalf("first start printed %d tokens (want exactly the saved one):\n%s", len(tokens), p.stdout.String())
	}
	if !strings.Contains(p.stdout.String(), filepath.Join(dataDir, "config", adminTokenFile)) {
		t.Fatal("the token file's path was not printed")
	}
	if strings.Contains(p.stderr.String(), admin) {
		t.Fatal("the admin token is in the log")
	}
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", p.stderr.String())
	}

	// The restart reuses everything and prints no token.
	p2 := start(t, work)
	resp, _ = get(t, client(t, dataDir), "https://"+p2.addr+"/healthz", "")
	if sha256.Sum256(resp.TLS.PeerCertificates[0].Raw) != fingerprint {
		t.Fatal("the restart presented a different certificate")
	}
	if kek2, _ := os.ReadFile(filepath.Join(dataDir, "config", kekFile)); !bytes.Equal(kek, kek2) {
		t.Fatal("the restart changed the KEK")
	}
	if resp, _ := get(t, client(t, dataDir), "https://"+p2.addr+"/v1/token", admin); resp.StatusCode != 200 {
		t.Fatalf("admin token after restart: %d", resp.StatusCode)
	}
	if code := p2.stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if n := len(jwtPattern.FindAllString(p2.stdout.String()+p2.stderr.String(), -1)); n != 0 {
		t.Fatalf("the restart printed %d tokens", n)
	}
}

func TestLecterndRefusesBadSetup(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, work string)
		args  []string
		code  int
		say   string
	}{
		{"secret readable by others", func(t *testing.T, work string) {
			dir := filepath.Join(work, "lectern-data", "config")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, kekFile), []byte(strings.Repeat("ab", 32)), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, 2, "chmod 600"},
		{"unknown role", nil, []string{"--role", "everything"}, 2, "unknown server role"},
		{"unknown flag", nil, []string{"--nope"}, 2, "nope"},
		{"bad backend", nil, []string{"--backend", "ftp://x"}, 2, "unknown scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, work)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, lecterndBinary(t), append([]string{"--listen", "127.0.0.1:0"}, tt.args...)...)
			cmd.Dir = work
			out, _ := cmd.CombinedOutput()
			if cmd.ProcessState.ExitCode() != tt.code || !strings.Contains(string(out), tt.say) {
				t.Fatalf("exit %d, want %d, saying %q:\n%s", cmd.ProcessState.ExitCode(), tt.code, tt.say, out)
			}
		})
	}
}

// TestLecterndComponentsRole: the components role serves content and the ops routes,
// and none of the conference API.
func TestLecterndComponentsRole(t *testing.T) {
	work := t.TempDir()
	p := start(t, work, "--role", "components")
	c := client(t, filepath.Join(work, "lectern-data"))
	base := "https://" + p.addr
	admin, err := os.ReadFile(filepath.Join(work, "lectern-data", "config", adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(admin))
	tests := []struct {
		path string
		want int
	}{
		{"/readyz", 200},
		{"/v1/conferences", 404},
		{"/v1/content/ad9d3361d676ba7f33f8b2a4ed91c818/team-42/x0123456789abcdef0123456789abcdef.epng", 404},
		{"/v1/content/ad9d3361d676ba7f33f8b2a4ed91c818/team-42/..", 400},
	}
	for _, tt := range tests {
		resp, body := get(t, c, base+tt.path, tok)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d: %s", tt.path, resp.StatusCode, tt.want, body)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
