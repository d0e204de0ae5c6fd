package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lectern/lectern/cmd/internal/gobuild"
)

// The CLI's tests run it in-process (run) against a real lecternd built from
// ./cmd/lecternd and started on 127.0.0.1 with a temporary data dir.

var (
	binDir  string
	binOnce = map[string]*sync.Once{"lecternd": {}, "lectern": {}}
	binErr  = map[string]error{}
	binMu   sync.Mutex
)

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "lectern-cli-bin-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// binary builds ./cmd/<name> once per test run.
func binary(t testing.TB, name string) string {
	t.Helper()
	binMu.Lock()
	once := binOnce[name]
	binMu.Unlock()
	path := filepath.Join(binDir, name)
	once.Do(func() {
		err := gobuild.Build(context.Background(), "", path, "../"+name)
		binMu.Lock()
		binErr[name] = err
		binMu.Unlock()
	})
	binMu.Lock()
	defer binMu.Unlock()
	if binErr[name] != nil {
		t.Fatal(binErr[name])
	}
	return path
}

// server is a running lecternd.
type server struct {
	dir     string // data dir
	url     string
	cmd     *exec.Cmd
	done    chan error
	logMu   sync.Mutex
	log     bytes.Buffer
	stopped bool
}

func (s *server) caFile() string    { return filepath.Join(s.dir, "config", "tls-cert.pem") }
func (s *server) adminFile() string { return filepath.Join(s.dir, "config", "admin-token") }
func (s *server) kekFile() string   { return filepath.Join(s.dir, "config", "kek.hex") }
func (s *server) backendURL() string {
	return "file://" + filepath.ToSlash(filepath.Join(s.dir, "store"))
}

// startServer starts lecternd on a free port with dataDir (created when empty).
func startServer(t testing.TB, dataDir string) *server {
	t.Helper()
	s := &server{dir: dataDir, done: make(chan error, 1)}
	s.cmd = exec.Command(binary(t, "lecternd"), "--listen", "127.0.0.1:0", "--log-format", "json",
		"--data-dir", dataDir, "--backend", s.backendURL(), "--snapshot-interval", "1h")
	s.cmd.Env = append(os.Environ(), "LECTERN_CONFIG=")
	errPipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout = writerFunc(func(p []byte) (int, error) { // the admin token banner
		s.logMu.Lock()
		defer s.logMu.Unlock()
		return s.log.Write(p)
	})
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			s.logMu.Lock()
			s.log.Write(append(sc.Bytes(), '\n'))
			s.logMu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
		}
		s.done <- s.cmd.Wait()
	}()
	select {
	case a := <-addr:
		s.url = "https://" + a
	case err := <-s.done:
		t.Fatalf("lecternd exited before listening: %v\n%s", err, s.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("lecternd did not listen within a minute:\n%s", s.logs())
	}
	return s
}

func (s *server) logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// stop shuts lecternd down gracefully (SIGTERM: it flushes the metadata).
func (s *server) stop(t testing.TB) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("lecternd exited with %v\n%s", err, s.logs())
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("lecternd did not stop within 30 s")
	}
}

// result is one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line in-process with only the given environment (plus a
// state dir private to the test).
func cli(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return cliContext(context.Background(), t, env, args...)
}

func cliContext(ctx context.Context, t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := run(ctx, args, strings.NewReader(""), &out, &errOut, lookup)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// must fails the test unless the run succeeded.
func (r result) must(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

// adminEnv is the environment of an admin talking to s.
func (s *server) adminEnv(t testing.TB) map[string]string {
	return map[string]string{"LECTERN_SERVER": s.url, "LECTERN_TOKEN_FILE": s.adminFile(),
		"LECTERN_CA_FILE": s.caFile(), "LECTERN_STATE_DIR": filepath.Join(t.TempDir(), "state")}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha(b)
}

// field returns the value after "name: " in a key: value output.
func field(t *testing.T, out, name string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q in output:\n%s", name, out)
	return ""
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
