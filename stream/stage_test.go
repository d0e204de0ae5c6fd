package stream

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
)

// stageRefuser refuses stage puts at once (as a server that answers before reading
// the body does), once the PATCH body is being read.
type stageRefuser struct {
	storage.Driver
	reading <-chan struct{}
}

func (d stageRefuser) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if !strings.HasSuffix(key, "/"+stageObject) {
		return d.Driver.Put(ctx, key, r, opts)
	}
	go func() { _, _ = io.Copy(io.Discard, r) }() // takes the header; ends when the pipe closes
	<-d.reading
	return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, nil)
}

// heldBody signals its first Read and holds it until released.
type heldBody struct {
	once    sync.Once
	reading chan struct{}
	release chan struct{}
}

func (h *heldBody) Read(p []byte) (int, error) {
	h.once.Do(func() { close(h.reading) })
	<-h.release
	return 0, io.EOF
}

// A checksum PATCH whose stage put fails early must not return while the body is
// still being read and hashed: the body is tusd's again once WriteChunk returns.
func TestWriteVerifiedFailedPutStopsReading(t *testing.T) {
	synctest.Test(t, testWriteVerifiedFailedPutStopsReading)
}

func testWriteVerifiedFailedPutStopsReading(t *testing.T) {
	body := &heldBody{reading: make(chan struct{}), release: make(chan struct{})}
	key, err := encryption.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &store{cfg: Config{Bucket: storage.NewBucket(stageRefuser{Driver: memory.New(memory.NewStore()), reading: body.reading})},
		log: discardLogger()}
	u := &upload{s: s, conf: "c", id: strings.Repeat("a", 32), key: key, rec: &record{Size: -1}}
	cs, err := parseChecksum("sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=")
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := u.writeVerified(t.Context(), body, cs, -1)
		result <- err
	}()
	<-body.reading
	// Every other goroutine of the bubble is now blocked for good: if
	// writeVerified had returned, its answer would be waiting.
	synctest.Wait()
	select {
	case err := <-result:
		close(body.release) // so that the bubble can end
		t.Fatalf("writeVerified returned (%v) while the body was still being read", err)
	default:
	}
	close(body.release)
	if err := <-result; !errors.Is(err, errUnavailable) {
		t.Fatalf("stage put on a refusing backend: %v, want %v", err, errUnavailable)
	}
}
