// Package freezer is a TCP proxy for tests of how a client behaves when its server
// hangs: while frozen it passes no byte either way and forwards no new connection,
// yet keeps every connection open, which only a timeout of the client ends (a server
// that is down refuses connections instead, and needs no proxy). It knows nothing of
// the protocol it carries; the storage backends' tests and lecternd's put it in front
// of a test MinIO or Samba.
package freezer

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a running proxy; the test's cleanup stops it and closes its connections.
type Proxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64

	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
	conns  []net.Conn
	done   bool // closed: connections are no longer taken
	wg     sync.WaitGroup
}

// Start starts a proxy to target (host:port) on a free port of 127.0.0.1.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, thaw: make(chan struct{})}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			if !p.track(c) {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.done = true
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.Unfreeze()
		p.wg.Wait()
	})
	return p
}

// Accepted counts the connections the proxy has taken: a client that connects afresh
// after a hang raises it.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Freeze stops every byte and every new connection until Unfreeze.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen, p.thaw = true, make(chan struct{})
	}
}

// Unfreeze lets bytes and connections through again.
func (p *Proxy) Unfreeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thaw)
	}
}

// track records c so that the cleanup closes it; false (and c closed) once the
// proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

// gate waits while the proxy is frozen.
func (p *Proxy) gate() {
	p.mu.Lock()
	frozen, thaw := p.frozen, p.thaw
	p.mu.Unlock()
	if frozen {
		<-thaw
	}
}

func (p *Proxy) serve(c net.Conn) {
	p.gate()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(s) {
		c.Close()
		return
	}
	pump := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.gate()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	p.wg.Go(func() { pump(s, c) })
	pump(c, s)
}
