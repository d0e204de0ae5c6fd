package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/core/storage"
)

// The freezer is the one of backends/smb's tests: test files cannot be shared
// between the two packages.

// freezer is a TCP proxy in front of the test MinIO that, while frozen, passes no
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

// hangTimeout is the driver's timeout in these tests: short, so that they run in
// seconds.
const hangTimeout = 500 * time.Millisecond

// frozenBucket opens a driver on the fixture's bucket through a freezer, with the
// timeout set to hangTimeout by the URL's parameter.
func frozenBucket(t *testing.T, f *fixture) (*storage.Bucket, *freezer) {
	t.Helper()
	ep, err := url.Parse(f.srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	fr := newFreezer(t, ep.Host)
	ep.Host = fr.ln.Addr().String()
	t.Setenv("AWS_ACCESS_KEY_ID", f.srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", f.srv.SecretKey)
	u, err := url.Parse("s3://" + f.bucket + "/hang?path_style=true&max_backoff=200ms&timeout=" + hangTimeout.String() +
		"&region=" + url.QueryEscape(f.srv.Region) + "&endpoint=" + url.QueryEscape(ep.String()))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s3.OpenURL(context.Background(), u)
	if err != nil {
		t.Fatalf("OpenURL through the freezer: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return storage.NewBucket(d), fr
}

// freezingReader yields r's bytes; once half of them are read it freezes the
// storage (the upload is then in flight).
type freezingReader struct {
	r    io.Reader
	half int64
	n    int64
	f    *freezer
}

func (fr *freezingReader) Read(p []byte) (int, error) {
	if fr.n >= fr.half {
		fr.f.freeze()
	}
	n, err := fr.r.Read(p)
	fr.n += int64(n)
	return n, err
}

// TestHungServer: the server stops answering (a freezer in front of MinIO) before or
// during an operation. The operation fails as unavailable after its attempts' timeouts,
// though the caller's context would let it wait a minute. Before, an attempt waited 2
// minutes for a response's headers, and a body that stopped midway (a Get's, read by
// the caller) or a request body the server stopped taking waited for the caller's
// context alone. Once the server answers again, the same driver works.
func TestHungServer(t *testing.T) {
	f := newFixture(t)
	// More than the socket buffers between MinIO and the client hold (a few MiB on
	// loopback), so that a Get body frozen early still has bytes to come.
	data := make([]byte, 4*testPartSize+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func(ctx context.Context, b *storage.Bucket, f *freezer) error
	}{
		{"stat", func(ctx context.Context, b *storage.Bucket, f *freezer) error {
			f.freeze()
			_, err := b.Stat(ctx, "big")
			return err
		}},
		{"get-body", func(ctx context.Context, b *storage.Bucket, f *freezer) error {
			rc, _, err := b.Get(ctx, "big", 0, -1)
			if err != nil {
				return err
			}
			defer rc.Close()
			f.freeze()
			_, err = io.Copy(io.Discard, rc)
			return err
		}},
		{"put-midway", func(ctx context.Context, b *storage.Bucket, f *freezer) error {
			r := &freezingReader{r: bytes.NewReader(data), half: int64(len(data) / 2), f: f}
			_, err := b.Put(ctx, "other", hiddenReader{r}, storage.PutOptions{Size: -1})
			return err
		}},
		{"delete", func(ctx context.Context, b *storage.Bucket, f *freezer) error {
			f.freeze()
			return b.Delete(ctx, "big")
		}},
		{"list", func(ctx context.Context, b *storage.Bucket, f *freezer) error {
			f.freeze()
			for _, err := range b.List(ctx, "") {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, fr := frozenBucket(t, f)
			if _, err := b.PutBytes(context.Background(), "big", data, storage.Condition{}); err != nil {
				t.Fatal(err)
			}
			// Far longer than the driver's bounds: only they end the operation with
			// storage.ErrUnavailable rather than a context error.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err := tc.run(ctx, b, fr)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("with the server hung: %v, want storage.ErrUnavailable", err)
			}
			// (The requests the freezer held may reach the server now: a hung
			// server that recovers may still carry them out.)
			fr.unfreeze()
			if _, err := b.PutBytes(context.Background(), "after", data[:100], storage.Condition{}); err != nil {
				t.Fatalf("put after the server came back: %v", err)
			}
			wantContent(t, b, "after", data[:100])
		})
	}
}

// slowReader yields r's bytes, pausing for wait after each MiB of them.
type slowReader struct {
	r     io.Reader
	wait  time.Duration
	since int
}

func (s *slowReader) Read(p []byte) (int, error) {
	const every = 1 << 20
	if s.since >= every {
		time.Sleep(s.wait)
		s.since = 0
	}
	n, err := s.r.Read(p[:min(len(p), every-s.since)])
	s.since += n
	return n, err
}

// TestSlowCallerIsNotAHungServer: a caller that takes longer than the timeout between
// its bytes (a slow upload's body, a download read slowly, a connection left idle) is
// not taken for a server that stopped answering.
func TestSlowCallerIsNotAHungServer(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses of seconds between a caller's reads: not under -short")
	}
	f := newFixture(t)
	b, _ := frozenBucket(t, f)
	data := make([]byte, 3<<20+5)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	pause := 3 * hangTimeout
	if _, err := b.Put(context.Background(), "slow", hiddenReader{&slowReader{r: bytes.NewReader(data), wait: pause}}, storage.PutOptions{Size: -1}); err != nil {
		t.Fatalf("put from a slow reader: %v", err)
	}
	time.Sleep(pause) // the connections idle past the timeout
	rc, _, err := b.Get(context.Background(), "slow", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(&slowReader{r: rc, wait: pause})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("a body read slowly: %d bytes, %v; want the object", len(got), err)
	}
}
