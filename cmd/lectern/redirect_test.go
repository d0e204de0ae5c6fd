package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi/tlscert"
)

// TestRedirectKeepsTokenOnlyOnTheServer: the client follows redirects, but sends
// the token on only when scheme, host and port are all the server's. A redirect to
// http:// on the same host and port (one port serving both, as a misconfigured
// proxy may) must not carry the token in clear text.
func TestRedirectKeepsTokenOnlyOnTheServer(t *testing.T) {
	srv := newDualServer(t)
	tests := []struct {
		name     string
		location string // where /start redirects
		keep     bool
	}{
		{"same origin", "https://" + srv.addr + "/landing", true},
		{"same origin, relative", "/landing", true},
		{"https to http, same host and port", "http://" + srv.addr + "/landing", false},
		{"other host name, same port", "https://localhost:" + srv.port + "/landing", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.setRedirect(tt.location)
			a := &app{server: "https://" + srv.addr, token: "secret-token", insecure: true,
				stderr: io.Discard, env: func(string) (string, bool) { return "", false }}
			cl, err := a.client(true)
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.doJSON(context.Background(), http.MethodGet, "/start", nil, nil); err != nil {
				t.Fatal(err)
			}
			got := srv.landingAuth()
			if sent := got != ""; sent != tt.keep {
				t.Fatalf("Authorization at the redirect target %q; want it sent: %v", got, tt.keep)
			}
			if tt.keep && got != "Bearer secret-token" {
				t.Fatalf("Authorization %q", got)
			}
		})
	}
}

// dualServer serves HTTPS and plain HTTP on one 127.0.0.1 port: a connection that
// opens with a TLS handshake record is served over TLS, any other in clear.
type dualServer struct {
	addr, port string

	mu       sync.Mutex
	redirect string
	auth     string // the Authorization header /landing last saw
}

func newDualServer(t *testing.T) *dualServer {
	t.Helper()
	certPEM, keyPEM, err := tlscert.SelfSigned([]string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dualServer{addr: ln.Addr().String()}
	_, d.port, _ = net.SplitHostPort(d.addr)
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		to := d.redirect
		d.mu.Unlock()
		http.Redirect(w, r, to, http.StatusFound)
	})
	mux.HandleFunc("/landing", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.auth = r.Header.Get("Authorization")
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		done <- hs.Serve(&sniffListener{Listener: ln, cfg: &tls.Config{Certificates: []tls.Certificate{cert}}})
	}()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return d
}

func (d *dualServer) setRedirect(to string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.redirect, d.auth = to, ""
}

func (d *dualServer) landingAuth() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.auth
}

// sniffListener hands out TLS server connections for clients that start with a TLS
// record (content type 22, handshake) and plain ones for the rest.
type sniffListener struct {
	net.Listener
	cfg *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if err == nil && first[0] == 22 {
		return tls.Server(pc, l.cfg), nil
	}
	return pc, nil
}

// peekedConn reads first what was peeked.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestSameOrigin: the origin is scheme, host and port, with the scheme's default
// port when none is written.
func TestSameOrigin(t *testing.T) {
	c := &client{base: mustURL(t, "https://Lectern.example:443")}
	tests := []struct {
		url  string
		same bool
	}{
		{"https://lectern.example/v1/x", true},
		{"HTTPS://LECTERN.EXAMPLE:443/v1/x", true},
		{"http://lectern.example/v1/x", false},
		{"http://lectern.example:443/v1/x", false},
		{"https://lectern.example:8443/v1/x", false},
		{"https://other.example/v1/x", false},
		{"https://lectern.example.other.example/", false},
	}
	for _, tt := range tests {
		if got := c.sameOrigin(mustURL(t, tt.url)); got != tt.same {
			t.Errorf("sameOrigin(%s) = %v, want %v", tt.url, got, tt.same)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
