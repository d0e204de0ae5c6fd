package smb

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers/freezer"
	"github.com/lectern/lectern/conformance/servers/samba"
	"github.com/lectern/lectern/core/storage"
)

// hangTimeout is the driver's request timeout in these tests: short, so that they run
// in seconds.
const hangTimeout = 500 * time.Millisecond

// openFrozen opens a driver on a new folder of the test share through a freezer, with
// the request timeout set to hangTimeout by the URL.
func openFrozen(t *testing.T) (*storage.Bucket, *freezer.Proxy) {
	t.Helper()
	srv := samba.Start(t)
	folder := srv.NewFolder(t)
	f := freezer.Start(t, srv.Host)
	u, err := url.Parse(srv.URL(folder) + "?password_file=" + url.QueryEscape(srv.PasswordFile(t)) + "&timeout=" + hangTimeout.String() +
		// Two reads in flight, not eight: a Get body then has requests still to send
		// when the test freezes the server after its first MiB.
		"&inflight=2")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = f.Addr()
	d, err := OpenURL(testCtx(t), u)
	if err != nil {
		t.Fatalf("OpenURL through the freezer: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return storage.NewBucket(d), f
}

// frozenReader yields size random bytes; once half of them are read it freezes the
// storage (the transfer is then in flight).
type frozenReader struct {
	r    io.Reader
	half int64
	n    int64
	f    *freezer.Proxy
}

func (fr *frozenReader) Read(p []byte) (int, error) {
	if fr.n >= fr.half {
		fr.f.Freeze()
	}
	n, err := fr.r.Read(p)
	fr.n += int64(n)
	return n, err
}

// TestHungServer: the server stops answering (a freezer in front of Samba) before or
// during an operation. The operation fails as unavailable once the request timeout
// passes, though the caller's context would let it wait a minute; before, go-smb2
// waited for the caller's context alone (a detached one for changes), so a request in
// flight when the server hung never ended. The connection is then dropped, and once
// the server answers again the next operation works on a fresh one.
func TestHungServer(t *testing.T) {
	data := make([]byte, 6*chunkSize+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// run performs the operation, freezing f at its point; it returns the error.
		run func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error
	}{
		{"stat", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			f.Freeze()
			_, err := b.Stat(ctx, "big")
			return err
		}},
		{"put-before", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			f.Freeze()
			_, err := b.PutBytes(ctx, "small", []byte("x"), storage.Condition{})
			return err
		}},
		{"put-midway", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			r := &frozenReader{r: bytes.NewReader(data), half: int64(len(data) / 2), f: f}
			_, err := b.Put(ctx, "other", r, storage.PutOptions{Size: int64(len(data))})
			return err
		}},
		{"get-body-midway", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			rc, _, err := b.Get(ctx, "big", 0, -1)
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, err := io.ReadFull(rc, make([]byte, chunkSize)); err != nil {
				return err
			}
			f.Freeze()
			_, err = io.Copy(io.Discard, rc)
			return err
		}},
		{"delete", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			f.Freeze()
			return b.Delete(ctx, "big")
		}},
		{"list", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			f.Freeze()
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
			b, f := openFrozen(t)
			if _, err := b.PutBytes(testCtx(t), "big", data, storage.Condition{}); err != nil {
				t.Fatal(err)
			}
			// Far longer than the request timeout: only the driver's own bound ends
			// the operation with storage.ErrUnavailable rather than a context error.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err := tc.run(ctx, b, f)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("with the server hung: %v, want storage.ErrUnavailable", err)
			}
			// (The requests the freezer held may reach the server now: a hung
			// server that recovers may still carry them out.)
			f.Unfreeze()
			before := f.Accepted()
			if _, err := b.PutBytes(testCtx(t), "after", data[:100], storage.Condition{}); err != nil {
				t.Fatalf("put after the server came back: %v", err)
			}
			got, _, err := b.ReadAll(testCtx(t), "after")
			if err != nil || !bytes.Equal(got, data[:100]) {
				t.Fatalf("after the server came back: %d bytes, %v; want the object", len(got), err)
			}
			if f.Accepted() == before {
				t.Errorf("the requests after the hang reused a connection of the hung server; want a fresh one")
			}
		})
	}
}

// slowReader yields r's bytes, pausing for wait after each chunkSize of them.
type slowReader struct {
	r     io.Reader
	wait  time.Duration
	since int // bytes since the last pause
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.since >= chunkSize {
		time.Sleep(s.wait)
		s.since = 0
	}
	n, err := s.r.Read(p[:min(len(p), chunkSize-s.since)])
	s.since += n
	return n, err
}

// TestSlowCallerIsNotAHungServer: a caller that takes longer than the request timeout
// between its bytes (a slow upload's body, a download read slowly) is not taken for a
// server that stopped answering: the timeout watches requests in flight only.
func TestSlowCallerIsNotAHungServer(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses of seconds between a caller's reads: not under -short")
	}
	b, _ := openFrozen(t)
	data := make([]byte, 3*chunkSize+7)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	pause := 3 * hangTimeout
	if _, err := b.Put(testCtx(t), "slow", &slowReader{r: bytes.NewReader(data), wait: pause}, storage.PutOptions{Size: -1}); err != nil {
		t.Fatalf("put from a slow reader: %v", err)
	}
	rc, _, err := b.Get(testCtx(t), "slow", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(&slowReader{r: rc, wait: pause})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("a body read slowly: %d bytes, %v; want the object", len(got), err)
	}
}
