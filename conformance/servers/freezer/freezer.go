// Package freezer is a TCP proxy for tests of how a client behaves when its server
// hangs: while frozen it passes no byte either way and forwards no new connection,
// yet keeps every connection open, which only a timeout of the client ends (a server
// that is down refuses connections instead, and needs no proxy). It can also cut a
// connection at the next request, or when its answer comes, as a server process that
// dies on a request, or after carrying it out, does.
// It knows nothing of the protocol it carries; the storage backends' tests and
// lecternd's put it in front of a test MinIO or Samba.
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
	cuts     atomic.Int64 // requests still to cut (CutNextRequests)
	drops    atomic.Int64 // answers still to drop (DropNextAnswers)

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

// CutNextRequests makes the proxy cut the connection of each of the next n requests
// (any bytes a client sends, on any connection, a new one's first included): the
// bytes are not passed on, and both ends are closed, so the client reads end of
// stream where it waited for an answer.
func (p *Proxy) CutNextRequests(n int) { p.cuts.Store(int64(n)) }

// DropNextAnswers makes the proxy pass each of the next n requests on, and cut their
// connection when the answer comes, which is lost: the server has carried the
// request out, the client never learns it.
func (p *Proxy) DropNextAnswers(n int) { p.drops.Store(int64(n)) }

// take takes one from counter n if it is positive.
func take(n *atomic.Int64) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// cut reports whether a request is to be cut now, and counts it.
func (p *Proxy) cut() bool { return take(&p.cuts) }

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
	var dropAnswer atomic.Bool // this connection's next answer is to be dropped
	pump := func(dst, src net.Conn, fromClient bool) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.gate()
				if fromClient && p.cut() {
					break
				}
				if fromClient && take(&p.drops) {
					dropAnswer.Store(true)
				}
				if !fromClient && dropAnswer.Load() {
					break
				}
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
	p.wg.Go(func() { pump(s, c, true) })
	pump(c, s, false)
}
