package minio

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// startTimeout bounds the wait for a starting server; MinIO needs a few seconds, more
// on a loaded machine.
const startTimeout = 90 * time.Second

// process is a MinIO server run from its binary. Stop and start keep its address and
// data folder, so that a restart looks like a server coming back.
type process struct {
	bin     string
	dir     string // holds data/ and minio.log
	address string // 127.0.0.1:PORT
	console string // 127.0.0.1:PORT
	env     []string
	// certsDir, when set, holds public.crt and private.key, and the server speaks
	// HTTPS only; tlsConfig trusts that certificate.
	certsDir  string
	tlsConfig *tls.Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

func startBinary() (*Server, error) { return startBinaryWith(nil) }

// startBinaryWith starts a server from the binary; prepare, when not nil, readies the
// process (its folder exists) before the first start.
func startBinaryWith(prepare func(*process) error) (*Server, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lectern-minio-")
	if err != nil {
		return nil, err
	}
	user, password := "lectern-"+randomHex(4), randomHex(16)
	p := &process{
		bin: bin,
		dir: dir,
		env: append(os.Environ(),
			"MINIO_ROOT_USER="+user,
			"MINIO_ROOT_PASSWORD="+password,
			"MINIO_UPDATE=off",
			"MINIO_BROWSER=off",
		),
	}
	if prepare != nil {
		if err := prepare(p); err != nil {
			p.shutdown()
			return nil, err
		}
	}
	// The ports are chosen free now and kept across restarts. Another process could
	// take one between the check and MinIO's bind; then the start fails with MinIO's
	// own message in the error, and the next attempt picks other ports.
	for attempt := 0; ; attempt++ {
		if p.address, err = freeAddress(); err == nil {
			p.console, err = freeAddress()
		}
		if err == nil {
			err = p.start()
		}
		if err == nil {
			break
		}
		if attempt == 2 {
			p.shutdown()
			return nil, err
		}
	}
	s := &Server{
		Endpoint:  p.scheme() + "://" + p.address,
		Region:    "us-east-1",
		AccessKey: user,
		SecretKey: password,
		proc:      p,
	}
	if p.certsDir != "" {
		s.CACertFile = filepath.Join(p.certsDir, "public.crt")
	}
	return s, nil
}

// findBinary looks for minio where deploy/test.sh puts it.
func findBinary() (string, error) {
	if bin := os.Getenv("LECTERN_MINIO_BIN"); bin != "" {
		return bin, nil
	}
	if bin, err := exec.LookPath("minio"); err == nil {
		return bin, nil
	}
	var tried []string
	for _, gopath := range goPaths() {
		bin := filepath.Join(gopath, "bin", "minio")
		if st, err := os.Stat(bin); err == nil && !st.IsDir() {
			return bin, nil
		}
		tried = append(tried, bin)
	}
	return "", fmt.Errorf("no minio binary on PATH or at %s", strings.Join(tried, ", "))
}

// goPaths returns the GOPATH entries: `go env GOPATH` knows about the go env file,
// build.Default only about the environment.
func goPaths() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			return filepath.SplitList(s)
		}
	}
	return filepath.SplitList(build.Default.GOPATH)
}

func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs the server, unless it is running, and waits until it is live.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	logFile, err := os.OpenFile(filepath.Join(p.dir, "minio.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	args := []string{"server", filepath.Join(p.dir, "data"),
		"--address", p.address, "--console-address", p.console, "--quiet"}
	if p.certsDir != "" {
		args = append(args, "--certs-dir", p.certsDir)
	}
	cmd := exec.Command(p.bin, args...)
	cmd.Env = p.env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // a killed server's exit status says nothing useful
		close(done)
	}()
	if err := waitLive(p.scheme()+"://"+p.address, p.tlsConfig, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s server on %s: %w; its log ends with:\n%s", p.bin, p.address, err, p.logTail())
	}
	p.cmd, p.done = cmd, done
	return nil
}

func (p *process) scheme() string {
	if p.certsDir != "" {
		return "https"
	}
	return "http"
}

// waitLive polls MinIO's liveness endpoint under base until it answers 200, the
// process exits, or startTimeout passes.
func waitLive(base string, tlsConfig *tls.Config, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Get(base + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited before it was live")
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not live after %v", startTimeout)
		}
	}
}

// stop kills the server, as a crash would, and waits for it to exit.
func (p *process) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.done
	p.cmd, p.done = nil, nil
	return nil
}

func (p *process) shutdown() {
	_ = p.stop()
	_ = os.RemoveAll(p.dir)
}

func (p *process) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "minio.log"))
	const limit = 2000
	if len(b) > limit {
		b = b[len(b)-limit:]
	}
	return string(bytes.TrimSpace(b))
}
