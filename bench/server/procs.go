package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// freePort asks the kernel for a free port on 127.0.0.1. The port is released before
// the server binds it, so another process could take it in between; startServer
// notices (the server exits or never answers) and the run fails loudly instead of
// measuring the wrong server.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// proc is a server process this program started.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// start runs a command with its output in logFile, in its own process group so that
// stop can end it and its children (nginx workers) without touching anything else.
func start(name, logFile string, argv ...string) (*proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan error, 1), log: logFile}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the process group and waits; after 20 s it kills the group.
func (p *proc) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// tail is the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitHTTPS polls url until it answers (any status) over TLS trusted by pool.
func (p *proc) waitHTTPS(ctx context.Context, url string, pool *x509.CertPool) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("%s exited before answering (%v):\n%s", p.name, err, p.tail())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer at %s within 60 s:\n%s", p.name, url, p.tail())
}

// lecternd is a running lecternd with the disk backend under dir.
type lecternd struct {
	*proc
	base     string // https://127.0.0.1:port
	dataDir  string
	storeDir string
	cert     string
	key      string
	admin    string
}

func startLecternd(ctx context.Context, bin, dir string, extra ...string) (*lecternd, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l := &lecternd{dataDir: filepath.Join(dir, "lectern-data"), storeDir: filepath.Join(dir, "lectern-data", "store")}
	argv := append([]string{bin, "-data-dir", l.dataDir, "-listen", fmt.Sprintf("127.0.0.1:%d", port),
		"-backend", "file://" + l.storeDir}, extra...)
	if l.proc, err = start("lecternd", filepath.Join(dir, "lecternd.log"), argv...); err != nil {
		return nil, err
	}
	l.base = fmt.Sprintf("https://127.0.0.1:%d", port)
	l.cert = filepath.Join(l.dataDir, "config", "tls-cert.pem")
	l.key = filepath.Join(l.dataDir, "config", "tls-key.pem")
	// The certificate is written before the server listens; wait for it first.
	var pool *x509.CertPool
	for i := 0; ; i++ {
		if pool, err = certPool(l.cert); err == nil {
			break
		}
		if i > 600 {
			l.stop()
			return nil, fmt.Errorf("lecternd wrote no certificate: %w\n%s", err, l.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := l.waitHTTPS(ctx, l.base+"/healthz", pool); err != nil {
		l.stop()
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(l.dataDir, "config", "admin-token"))
	if err != nil {
		l.stop()
		return nil, err
	}
	l.admin = strings.TrimSpace(string(tok))
	return l, nil
}

func certPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no certificate in " + file)
	}
	return pool, nil
}

// nginxConf serves root/content/... at /v1/content/... so that the same URL path
// reaches the same file. Logging, keep-alive and TLS settings are chosen to match
// lecternd's: one access-log line per request, long-lived connections.
const nginxConf = `daemon off;
master_process on;
worker_processes %d;
user root;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[2]s/tmp-body;
  proxy_temp_path %[2]s/tmp-proxy;
  fastcgi_temp_path %[2]s/tmp-fastcgi;
  uwsgi_temp_path %[2]s/tmp-uwsgi;
  scgi_temp_path %[2]s/tmp-scgi;
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:%[3]d ssl;
    ssl_certificate %[4]s;
    ssl_certificate_key %[5]s;
    ssl_protocols TLSv1.2 TLSv1.3;
    location /v1/content/ { alias %[6]s/content/; }
  }
}
`

// startNginx runs the Debian nginx binary with a private config in dir, serving
// storeDir with the certificate of lecternd.
func startNginx(ctx context.Context, bin, dir, storeDir, cert, key string, workers int) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(ndir, 0o700); err != nil {
		return nil, "", err
	}
	conf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, workers, ndir, port, cert, key, storeDir), 0o600); err != nil {
		return nil, "", err
	}
	p, err := start("nginx", filepath.Join(ndir, "stdout.log"), bin, "-p", ndir, "-e", filepath.Join(ndir, "error.log"), "-c", conf)
	if err != nil {
		return nil, "", err
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	pool, err := certPool(cert)
	if err == nil {
		err = p.waitHTTPS(ctx, base+"/", pool)
	}
	if err != nil {
		p.stop()
		b, _ := os.ReadFile(filepath.Join(ndir, "error.log"))
		return nil, "", fmt.Errorf("%w\n%s", err, b)
	}
	return p, base, nil
}

// startTusd runs tusd's own server (its file store) on uploadDir, with the same
// certificate, at base path /files/.
func startTusd(ctx context.Context, bin, dir, cert, key string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	up := filepath.Join(dir, "tusd-uploads")
	if err := os.MkdirAll(up, 0o700); err != nil {
		return nil, "", err
	}
	p, err := start("tusd", filepath.Join(dir, "tusd.log"), bin, "-host", "127.0.0.1", "-port", fmt.Sprint(port),
		"-upload-dir", up, "-base-path", "/files/", "-tls-certificate", cert, "-tls-key", key,
		"-tls-mode", "tls12")
	if err != nil {
		return nil, "", err
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	pool, err := certPool(cert)
	if err == nil {
		err = p.waitHTTPS(ctx, base+"/files/", pool)
	}
	if err != nil {
		p.stop()
		return nil, "", err
	}
	return p, base, nil
}
