package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newUploadServer starts lecternd and checks that it hosts the tus endpoint.
func newUploadServer(t *testing.T) *server {
	t.Helper()
	s := startServer(t, filepath.Join(t.TempDir(), "lectern-data"))
	pemBytes, err := os.ReadFile(s.caFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodOptions, s.url+"/v1/conferences/probe/uploads", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Tus-Version"); !strings.Contains(v, tusVersion) {
		t.Fatalf("lecternd does not offer tus %s (Tus-Version %q, status %d)", tusVersion, v, resp.StatusCode)
	}
	return s
}

// cutProxy forwards TCP to target and counts the bytes the client sends. When the
// count reaches a set threshold it runs the trigger once (cut every connection, or
// cancel the client).
type cutProxy struct {
	ln     net.Listener
	target string
	sent   atomic.Int64

	mu      sync.Mutex
	conns   map[net.Conn]bool
	at      int64
	trigger func()
}

func newCutProxy(t *testing.T, targetURL string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: strings.TrimPrefix(targetURL, "https://"), conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cutAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	return p
}

func (p *cutProxy) url() string { return "https://" + p.ln.Addr().String() }

// arm runs trigger once the client has sent n more bytes.
func (p *cutProxy) arm(n int64, trigger func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at, p.trigger = p.sent.Load()+n, trigger
}

func (p *cutProxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) handle(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, up)
		p.mu.Unlock()
		c.Close()
		up.Close()
	}()
	go func() { io.Copy(c, up); c.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			total := p.sent.Add(int64(n))
			p.mu.Lock()
			fire := p.trigger != nil && total >= p.at
			trigger := p.trigger
			if fire {
				p.trigger = nil
			}
			p.mu.Unlock()
			if fire {
				trigger()
				return
			}
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

var resumeLine = regexp.MustCompile(`resuming upload at (\d+) of (\d+) bytes`)

func TestUpload(t *testing.T) {
	target := newUploadServer(t)
	admin := map[string]string{"LECTERN_SERVER": target.url, "LECTERN_TOKEN_FILE": target.adminFile(), "LECTERN_CA_FILE": target.caFile()}
	cli(t, admin, "conference", "create", "--id", "talks", "--organizer", "sip:alice@example.com").must(t)
	tok := strings.TrimSpace(cli(t, admin, "token", "--role", "presenter", "--conference", "talks", "--subject", "sip:alice@example.com").must(t).stdout)
	proxy := newCutProxy(t, target.url)
	env := map[string]string{"LECTERN_SERVER": proxy.url(), "LECTERN_TOKEN": tok, "LECTERN_CA_FILE": target.caFile(),
		"LECTERN_STATE_DIR": filepath.Join(t.TempDir(), "state")}
	const size = 20_000_000
	dir := t.TempDir()

	// download fetches what an upload printed and compares it with the file.
	download := func(t *testing.T, r result, want []byte) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "back")
		cli(t, env, "download", "--key", field(t, r.stdout, "key"), "--out", out, field(t, r.stdout, "url")).must(t)
		if got := fileSHA(t, out); got != sha(want) {
			t.Fatalf("downloaded SHA-256 %s, uploaded %s", got, sha(want))
		}
	}

	t.Run("connection cut mid-PATCH, resumed in the same run", func(t *testing.T) {
		data := randomBytes(t, size)
		file := filepath.Join(dir, "keynote.pptx")
		os.WriteFile(file, data, 0o600)
		before := proxy.sent.Load()
		proxy.arm(11_000_000, proxy.cutAll) // 11 MB into the one PATCH that carries the whole file (defaultChunkSize 0)
		r := cli(t, env, "--progress", "always", "upload", "--conference", "talks", file).must(t)
		t.Logf("client stderr:\n%s", r.stderr)
		if !strings.Contains(r.stderr, "request failed") {
			t.Fatalf("no failure seen, the cut did not happen: %s", r.stderr)
		}
		// Resumed from the server's offset, not from the start: the file once, plus
		// at most the bytes of the cut request past its last stored segment and the
		// requests' headers, well under twice the file.
		if sent := proxy.sent.Load() - before; sent > size+1_000_000 {
			t.Fatalf("sent %d bytes for a %d-byte file: the upload restarted instead of resuming", sent, size)
		}
		if !strings.Contains(field(t, r.stdout, "url"), "/v1/content/") || len(field(t, r.stdout, "key")) != 64 {
			t.Fatalf("upload output: %s", r.stdout)
		}
		if entries, _ := os.ReadDir(env["LECTERN_STATE_DIR"]); len(entries) != 0 {
			t.Fatalf("state left after success: %v", entries)
		}
		download(t, r, data)
	})

	t.Run("interrupted run, resumed by running it again", func(t *testing.T) {
		data := randomBytes(t, size)
		file := filepath.Join(dir, "recording.mp4")
		os.WriteFile(file, data, 0o600)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		proxy.arm(13_000_000, cancel) // the user presses ^C
		r := cliContext(ctx, t, env, "upload", "--conference", "talks", file)
		if r.code != exitError || !strings.Contains(r.stderr, "run the same command again to resume") {
			t.Fatalf("interrupted upload: exit %d %s", r.code, r.stderr)
		}
		if entries, _ := os.ReadDir(env["LECTERN_STATE_DIR"]); len(entries) != 1 {
			t.Fatalf("want one state file, have %v", entries)
		}
		// Run again with a token the server refuses for this upload (another
		// presenter's): an error that says so, and the state is kept for the right one.
		other := strings.TrimSpace(cli(t, admin, "token", "--role", "presenter", "--conference", "talks", "--subject", "sip:bob@example.com").must(t).stdout)
		wrong := maps.Clone(env)
		wrong["LECTERN_TOKEN"] = other
		if r := cli(t, wrong, "upload", "--conference", "talks", file); r.code != exitError || !strings.Contains(r.stderr, "use the token it was started with") {
			t.Fatalf("resumed with another presenter's token: exit %d %s", r.code, r.stderr)
		}
		if entries, _ := os.ReadDir(env["LECTERN_STATE_DIR"]); len(entries) != 1 {
			t.Fatalf("the state after a refused resume: %v, want it kept", entries)
		}
		before := proxy.sent.Load()
		r = cli(t, env, "upload", "--conference", "talks", file).must(t)
		m := resumeLine.FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("second run did not resume: %s", r.stderr)
		}
		off, _ := strconv.ParseInt(m[1], 10, 64)
		if off < 1<<20 || m[2] != strconv.Itoa(size) {
			t.Fatalf("resumed at %d of %s; the first run had sent 13 MB", off, m[2])
		}
		if sent := proxy.sent.Load() - before; sent > size-off+2_000_000 {
			t.Fatalf("second run sent %d bytes after resuming at %d", sent, off)
		}
		download(t, r, data)
	})

	t.Run("a changed file is a new upload", func(t *testing.T) {
		file := filepath.Join(dir, "notes.txt")
		os.WriteFile(file, []byte("first version"), 0o600)
		r1 := cli(t, env, "upload", "--checksum", "--conference", "talks", file).must(t)
		os.WriteFile(file, []byte("second, longer version"), 0o600)
		r2 := cli(t, env, "upload", "--checksum", "--conference", "talks", file).must(t)
		if field(t, r1.stdout, "url") == field(t, r2.stdout, "url") || strings.Contains(r2.stderr, "resuming") {
			t.Fatal("the changed file resumed the old upload")
		}
		// Every PATCH carried an Upload-Checksum the server verified: no 460, no retry.
		if strings.Contains(r1.stderr+r2.stderr, "request failed") {
			t.Fatalf("retries on a clean connection: %s%s", r1.stderr, r2.stderr)
		}
		download(t, r2, []byte("second, longer version"))
	})

	t.Run("handout and empty file", func(t *testing.T) {
		file := filepath.Join(dir, "agenda.pdf")
		os.WriteFile(file, []byte("%PDF-1.4 agenda"), 0o600)
		r := cli(t, env, "-o", "json", "upload", "--conference", "talks", "--handout", file).must(t)
		var res uploadResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Handout == "" || !strings.HasSuffix(res.Name, ".blb") || res.Size != 15 {
			t.Fatalf("handout result: %+v %v", res, err)
		}
		empty := filepath.Join(dir, "empty.txt")
		os.WriteFile(empty, nil, 0o600)
		r = cli(t, env, "upload", "--conference", "talks", empty).must(t)
		download(t, r, nil)
	})

	t.Run("refusals", func(t *testing.T) {
		file := filepath.Join(dir, "x.png")
		os.WriteFile(file, []byte("png"), 0o600)
		if r := cli(t, env, "upload", "--conference", "nope", file); r.code != exitError || !strings.Contains(r.stderr, "HTTP 403") {
			t.Fatalf("other conference: exit %d %s", r.code, r.stderr)
		}
		if r := cli(t, env, "upload", "--conference", "talks", dir); r.code != exitUsage {
			t.Fatalf("a directory: exit %d %s", r.code, r.stderr)
		}
		if r := cli(t, env, "upload", "--conference", "talks", filepath.Join(dir, "missing")); r.code != exitError {
			t.Fatalf("a missing file: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("conference ended mid-upload: a conflict that retrying cannot fix", func(t *testing.T) {
		cli(t, admin, "conference", "create", "--id", "ending", "--organizer", "sip:alice@example.com").must(t)
		file := filepath.Join(dir, "late.mp4")
		os.WriteFile(file, randomBytes(t, 6_000_000), 0o600)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		proxy.arm(3_000_000, cancel)
		adminProxy := map[string]string{"LECTERN_SERVER": proxy.url(), "LECTERN_TOKEN_FILE": target.adminFile(),
			"LECTERN_CA_FILE": target.caFile(), "LECTERN_STATE_DIR": env["LECTERN_STATE_DIR"]}
		if r := cliContext(ctx, t, adminProxy, "upload", "--chunk-size", "1048576", "--conference", "ending", file); r.code != exitError {
			t.Fatalf("interrupted upload: exit %d %s", r.code, r.stderr)
		}
		cli(t, admin, "conference", "end", "ending").must(t)
		r := cli(t, adminProxy, "upload", "--chunk-size", "1048576", "--conference", "ending", file)
		if r.code != exitError || !strings.Contains(r.stderr, "resuming upload") || !strings.Contains(r.stderr, "lectern: conflict (HTTP 409)") ||
			strings.Count(r.stderr, "request failed") != 1 {
			t.Fatalf("upload to an ended conference: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("a proxy with a 1 MiB body limit", func(t *testing.T) {
		// Like nginx's client_max_body_size 1m in front of lecternd: 413, an HTML page.
		limited := bodyLimitProxy(t, target, 1<<20)
		penv := map[string]string{"LECTERN_SERVER": limited.url, "LECTERN_TOKEN": tok, "LECTERN_CA_FILE": limited.caFile,
			"LECTERN_STATE_DIR": env["LECTERN_STATE_DIR"]}
		data := randomBytes(t, 5_000_000)
		file := filepath.Join(dir, "behind-proxy.pdf")
		os.WriteFile(file, data, 0o600)
		r := cli(t, penv, "upload", "--conference", "talks", file).must(t)
		// 5,000,000 (the whole file) -> 2,500,000 -> 1,250,000 refused; 625,000 passes.
		if !strings.Contains(r.stderr, "sending 625000 bytes per request") || limited.refused.Load() != 3 {
			t.Fatalf("chunk size not adapted (%d refused): %s", limited.refused.Load(), r.stderr)
		}
		out := filepath.Join(t.TempDir(), "back")
		cli(t, penv, "download", "--key", field(t, r.stdout, "key"), "--out", out, field(t, r.stdout, "url")).must(t)
		if fileSHA(t, out) != sha(data) {
			t.Fatal("downloaded content differs")
		}
	})

	r := cli(t, env, "content", "list", "--conference", "talks").must(t)
	if n := strings.Count(r.stdout, "\n") - 1; n != 7 {
		t.Fatalf("content list after seven uploads shows %d:\n%s", n, r.stdout)
	}
}

// limitProxy is a TLS reverse proxy to lecternd that refuses bodies over a limit.
type limitProxy struct {
	url, caFile string
	refused     atomic.Int64
}

func bodyLimitProxy(t *testing.T, s *server, limit int64) *limitProxy {
	t.Helper()
	lp := &limitProxy{}
	lp.url, lp.caFile = frontProxy(t, s, func(w http.ResponseWriter, r *http.Request) bool {
		if r.ContentLength <= limit {
			return false
		}
		lp.refused.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, "<html><body><h1>413 Request Entity Too Large</h1></body></html>")
		return true
	})
	return lp
}

// frontProxy starts a TLS reverse proxy to lecternd s, whose answer answers a request
// itself when it returns true (a proxy's own refusal, an injected fault) and forwards
// it otherwise. It returns the proxy's URL and the file of its CA certificate.
func frontProxy(t *testing.T, s *server, answer func(http.ResponseWriter, *http.Request) bool) (proxyURL, caFile string) {
	t.Helper()
	target, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(s.caFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // so that lecternd's Location names the proxy
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !answer(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "proxy-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}
