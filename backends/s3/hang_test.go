package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/conformance/servers/freezer"
	"github.com/lectern/lectern/core/storage"
)

// hangTimeout is the driver's timeout in these tests: short, so that they run in
// seconds.
const hangTimeout = 500 * time.Millisecond

// frozenBucket opens a driver on the fixture's bucket through a freezer, with the
// timeout set to hangTimeout by the URL's parameter.
func frozenBucket(t *testing.T, f *fixture) (*storage.Bucket, *freezer.Proxy) {
	t.Helper()
	ep, err := url.Parse(f.srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	fr := freezer.Start(t, ep.Host)
	ep.Host = fr.Addr()
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
	f    *freezer.Proxy
}

func (fr *freezingReader) Read(p []byte) (int, error) {
	if fr.n >= fr.half {
		fr.f.Freeze()
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
		run  func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error
	}{
		{"stat", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			f.Freeze()
			_, err := b.Stat(ctx, "big")
			return err
		}},
		{"get-body", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			rc, _, err := b.Get(ctx, "big", 0, -1)
			if err != nil {
				return err
			}
			defer rc.Close()
			f.Freeze()
			_, err = io.Copy(io.Discard, rc)
			return err
		}},
		{"put-midway", func(ctx context.Context, b *storage.Bucket, f *freezer.Proxy) error {
			r := &freezingReader{r: bytes.NewReader(data), half: int64(len(data) / 2), f: f}
			_, err := b.Put(ctx, "other", hiddenReader{r}, storage.PutOptions{Size: -1})
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
			fr.Unfreeze()
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
