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

// TestOutageDuringMultipartPut: the server dies in the middle of a multipart put.
// The put fails as retryable, the old object survives, and the same driver writes
// again once the server is back.
func TestOutageDuringMultipartPut(t *testing.T) {
	f := restartable(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	old := pattern(1000, 1)
	if _, err := b.PutBytes(ctx, "obj", old, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	data := pattern(4*testPartSize, 2)
	r := &gatedReader{data: data, n: 2*testPartSize + 10, reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := b.Put(ctx, "obj", r, storage.PutOptions{Size: -1})
		done <- err
	}()
	<-r.reached
	restart := outage(t, f)
	close(r.release)
	if err := <-done; !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Put across an outage = %v (category %v), want ErrUnavailable", err, storage.KindOf(err))
	}
	restart()
	wantContent(t, b, "obj", old)
	if _, err := b.Put(ctx, "obj", hiddenReader{bytes.NewReader(data)}, storage.PutOptions{Size: -1}); err != nil {
		t.Fatalf("Put after the restart with the same driver: %v", err)
	}
	wantContent(t, b, "obj", data)
}

// TestOutageDuringGetBody: the server dies while a body is being read; the read fails
// as retryable (not as a clean, short end of file), and a new read works once the
// server is back.
func TestOutageDuringGetBody(t *testing.T) {
	f := restartable(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	// Much larger than the socket buffers of both ends, so that killing the server
	// cuts the body short.
	data := pattern(48<<20, 3)
	if _, err := b.Put(ctx, "big", hiddenReader{bytes.NewReader(data)}, storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := b.Get(ctx, "big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatalf("reading the first MiB: %v", err)
	}
	restart := outage(t, f)
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("reading the body across an outage: %d more bytes, error %v (category %v); want ErrUnavailable", n, err, storage.KindOf(err))
	}
	restart()
	wantContent(t, b, "big", data)
}

// TestOutageConditionalPut: a conditional put during an outage is retryable, not a
// precondition failure, and the condition still holds after the restart.
func TestOutageConditionalPut(t *testing.T) {
	f := restartable(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	a, err := b.PutBytes(ctx, "c", []byte("one"), storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	restart := outage(t, f)
	_, err = b.PutBytes(ctx, "c", []byte("two"), storage.Condition{IfVersion: a.Version})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("conditional put while down = %v, want ErrUnavailable", err)
	}
	_, err = b.PutBytes(ctx, "new", []byte("x"), storage.Condition{IfNotExists: true})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("create-only put while down = %v, want ErrUnavailable", err)
	}
	restart()
	if _, err := b.PutBytes(ctx, "c", []byte("two"), storage.Condition{IfVersion: a.Version}); err != nil {
		t.Fatalf("the same conditional put after the restart: %v", err)
	}
	if _, err := b.PutBytes(ctx, "new", []byte("x"), storage.Condition{IfNotExists: true}); err != nil {
		t.Fatalf("the same create-only put after the restart: %v", err)
	}
}
