package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/core/conference"
)

// cuttingProxy forwards TCP connections to a server and cuts some of them, as a
// dropped connection would: cutAt(i) is the number of bytes of the server's answer
// after which the i-th connection (from 0) is closed, or -1 to leave it alone. TLS
// passes through it untouched.
type cuttingProxy struct {
	ln     net.Listener
	target string
	cutAt  atomic.Pointer[func(i int) int64]
	n      atomic.Int64 // connections accepted
	made   atomic.Int64 // connections cut
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newCuttingProxy(t *testing.T, target string) *cuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close() // the clients' idle keep-alive connections too
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// plan sets how the connections from now on are cut, counting them from 0 again.
func (p *cuttingProxy) plan(cutAt func(i int) int64) {
	p.cutAt.Store(&cutAt)
	p.n.Store(0)
	p.made.Store(0)
}

func (p *cuttingProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		cut := int64(-1)
		if f := p.cutAt.Load(); f != nil {
			cut = (*f)(int(p.n.Add(1) - 1))
		}
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(server, client)
			server.Close()
		}()
		go func() {
			defer p.wg.Done()
			defer client.Close()
			if cut >= 0 {
				if n, err := io.CopyN(client, server, cut); err == nil && n == cut {
					p.made.Add(1)
					server.Close()
				}
				return
			}
			_, _ = io.Copy(client, server)
		}()
	}
}

// TestDownloadResumesBrokenTransfers: a download whose connection drops in the middle
// (twice) goes on where it stopped and writes the whole, verified plaintext; so does
// a ranged one; a transfer that keeps breaking gives up after --retries attempts in
// a row, saying so (not that the content is damaged), and leaves nothing behind.
func TestDownloadResumesBrokenTransfers(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "lectern-data"))
	admin := s.adminEnv(t)
	cli(t, admin, "conference", "create", "--id", "demo", "--organizer", "sip:alice@example.com").must(t)
	plain := randomBytes(t, 3_000_000)
	st, err := engineOn(t, s).StoreContent(context.Background(), "demo", conference.SlideContent, "png", bytes.NewReader(plain), int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCuttingProxy(t, u.Host)
	viaProxy := map[string]string{}
	for k, v := range admin {
		viaProxy[k] = v
	}
	viaProxy["LECTERN_SERVER"] = "https://" + proxy.ln.Addr().String()

	// The first connections break 700 kB into the answer: a download makes progress
	// on each, so it resumes as often as it takes.
	cutFirst := func(k int) func(int) int64 {
		return func(i int) int64 {
			if i < k {
				return 700_000
			}
			return -1
		}
	}
	// The first connection breaks 700 kB in, every later one in the TLS handshake:
	// no progress, so the failures count up.
	cutAll := func(i int) int64 {
		if i == 0 {
			return 700_000
		}
		return 100
	}
	tests := []struct {
		name  string
		args  []string
		want  []byte
		cutAt func(int) int64
		cuts  int64
		fails bool
	}{
		{"whole file", nil, plain, cutFirst(2), 2, false},
		{"range", []string{"--range", "1000000-2499999"}, plain[1_000_000:2_500_000], cutFirst(1), 1, false},
		{"broken off at every attempt", []string{"--retries", "2"}, nil, cutAll, 0, true},
		{"no retries", []string{"--retries", "0"}, nil, cutFirst(1), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.plan(tt.cutAt)
			out := filepath.Join(t.TempDir(), "deck.png")
			args := append([]string{"download", "--key", st.Key.Hex(), "--out", out}, tt.args...)
			r := cli(t, viaProxy, append(args, st.URLPath)...)
			if tt.fails {
				// Reported as what it is, not as content cut short or damaged.
				if r.code != exitError || !strings.Contains(r.stderr, "the transfer broke off") ||
					strings.Contains(r.stderr, "verification failed") {
					t.Fatalf("a transfer that keeps breaking: exit %d, %s", r.code, r.stderr)
				}
				if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
					t.Fatalf("the failed download left %v", entries)
				}
				return
			}
			r.must(t)
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("the resumed download differs (%d bytes, %v)", len(got), err)
			}
			if made, resumes := proxy.made.Load(), strings.Count(r.stderr, "resuming in"); made != tt.cuts || resumes != int(tt.cuts) {
				t.Fatalf("%d connections cut, %d resumes reported, want %d:\n%s", made, resumes, tt.cuts, r.stderr)
			}
		})
	}
}
