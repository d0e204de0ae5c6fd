package main

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// The freezer is the one of backends/smb's and backends/s3's tests: test files cannot
// be shared between packages.

// freezer is a TCP proxy in front of a test storage server that, while frozen, passes no
// byte either way and forwards no new connection, yet keeps every connection open: a
// server that hangs rather than refusing, which only a timeout of the client ends.
type freezer struct {
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

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, thaw: make(chan struct{})}
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			if !f.track(c) {
				return
			}
			f.wg.Go(func() { f.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		f.done = true
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.unfreeze()
		f.wg.Wait()
	})
	return f
}

// track records c so that the cleanup closes it; false (and c closed) once the
// proxy is closed.
func (f *freezer) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		c.Close()
		return false
	}
	f.conns = append(f.conns, c)
	return true
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.frozen {
		f.frozen, f.thaw = true, make(chan struct{})
	}
}

func (f *freezer) unfreeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		f.frozen = false
		close(f.thaw)
	}
}

// gate waits while the proxy is frozen.
func (f *freezer) gate() {
	f.mu.Lock()
	frozen, thaw := f.frozen, f.thaw
	f.mu.Unlock()
	if frozen {
		<-thaw
	}
}

func (f *freezer) serve(c net.Conn) {
	f.gate()
	s, err := net.Dial("tcp", f.target)
	if err != nil {
		c.Close()
		return
	}
	if !f.track(s) {
		c.Close()
		return
	}
	pump := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				f.gate()
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
	f.wg.Go(func() { pump(s, c) })
	pump(c, s)
}
