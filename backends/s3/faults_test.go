package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// restartable returns a fixture whose server the test may stop; the server is
// started again at the test's end whatever happens.
func restartable(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	if !f.srv.Restartable() {
		t.Skip("the MinIO server comes from LECTERN_S3_ENDPOINT and cannot be stopped by the tests")
	}
	return f
}

// outage stops the server and returns the function that starts it again (once),
// also registered as a cleanup so that a failed test never leaves it down.
func outage(t *testing.T, f *fixture) (restart func()) {
	t.Helper()
	var once sync.Once
	restart = func() { once.Do(func() { f.srv.Start(t) }) }
	f.srv.Stop(t)
	t.Cleanup(restart)
	return restart
}

// gatedReader yields data up to n bytes, signals reached, waits for release, then
// yields the rest: an upload that pauses in the middle.
type gatedReader struct {
	data    []byte
	n       int
	pos     int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.pos >= r.n {
		r.once.Do(func() { close(r.reached) })
		<-r.release
	}
	if r.pos >= len(r.data) {
		return 0, io.EOF
	}
	limit := len(r.data)
	if r.pos < r.n {
		limit = r.n
	}
	k := copy(p, r.data[r.pos:limit])
	r.pos += k
	return k, nil
}

// TestOutage stops the server once, in the middle of a multipart put and of a body
// read, and checks that every operation fails as retryable (not as a precondition
// failure, a clean end of file or anything else), that nothing was damaged, and that
// the same driver works again once the server is back.
func TestOutage(t *testing.T) {
	f := restartable(t)
	b := f.bucketHandle(t)
	ctx := context.Background()

	old := pattern(1000, 1)
	cond, err := b.PutBytes(ctx, "cond", []byte("one"), storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutBytes(ctx, "obj", old, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	// Much larger than the socket buffers of both ends, so that killing the server
	// cuts its body short.
	big := pattern(48<<20, 3)
	if _, err := b.Put(ctx, "big", hiddenReader{bytes.NewReader(big)}, storage.PutOptions{Size: int64(len(big))}); err != nil {
		t.Fatal(err)
	}

	// A multipart put paused after two parts, and a body read after its first MiB.
	data := pattern(4*testPartSize, 2)
	r := &gatedReader{data: data, n: 2*testPartSize + 10, reached: make(chan struct{}), release: make(chan struct{})}
	putDone := make(chan error, 1)
	go func() {
		_, err := b.Put(ctx, "obj", r, storage.PutOptions{Size: -1})
		putDone <- err
	}()
	<-r.reached
	rc, _, err := b.Get(ctx, "big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatalf("reading the first MiB: %v", err)
	}

	restart := outage(t, f)

	t.Run("multipart_put", func(t *testing.T) {
		close(r.release)
		if err := <-putDone; !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Put across the outage = %v (category %v), want ErrUnavailable", err, storage.KindOf(err))
		}
	})
	t.Run("body_read", func(t *testing.T) {
		n, err := io.Copy(io.Discard, rc)
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("reading the body across the outage: %d more bytes, error %v (category %v); want ErrUnavailable", n, err, storage.KindOf(err))
		}
	})
	t.Run("conditional_puts", func(t *testing.T) {
		_, err := b.PutBytes(ctx, "cond", []byte("two"), storage.Condition{IfVersion: cond.Version})
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("conditional replace while down = %v, want ErrUnavailable", err)
		}
		_, err = b.PutBytes(ctx, "new", []byte("x"), storage.Condition{IfNotExists: true})
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("create-only put while down = %v, want ErrUnavailable", err)
		}
	})

	restart()

	t.Run("nothing_damaged", func(t *testing.T) {
		wantContent(t, b, "obj", old)
		wantContent(t, b, "big", big)
	})
	t.Run("same_driver_writes_again", func(t *testing.T) {
		if _, err := b.Put(ctx, "obj", hiddenReader{bytes.NewReader(data)}, storage.PutOptions{Size: -1}); err != nil {
			t.Fatalf("multipart put after the restart: %v", err)
		}
		wantContent(t, b, "obj", data)
		if _, err := b.PutBytes(ctx, "cond", []byte("two"), storage.Condition{IfVersion: cond.Version}); err != nil {
			t.Fatalf("the same conditional replace after the restart: %v", err)
		}
		if _, err := b.PutBytes(ctx, "new", []byte("x"), storage.Condition{IfNotExists: true}); err != nil {
			t.Fatalf("the same create-only put after the restart: %v", err)
		}
	})
}
