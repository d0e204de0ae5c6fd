package encryption

import (
	"crypto/sha256"
	"io"
	"runtime"
	"testing"
)

// zeroes is an endless reader of zero bytes (content does not matter here).
type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestConstantMemory streams a large plaintext through NewWriter and NewReader
// connected by a pipe and checks that the bytes allocated in total stay bounded by
// a few segments: nothing is allocated per byte or per segment.
func TestConstantMemory(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	key := testKey(t, 60)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		w, err := NewWriter(pw, key)
		if err == nil {
			_, err = io.Copy(w, io.LimitReader(zeroes{}, size))
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	r, err := NewReader(pr, key)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil || n != size {
		t.Fatalf("decrypted %d bytes, %v; want %d", n, err, size)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB streamed; %d KiB allocated in total", size>>20, allocated>>10)
	if limit := uint64(1 << 20); allocated > limit {
		t.Fatalf("allocated %d bytes for a %d-byte stream; want <= %d (constant memory)", allocated, size, limit)
	}
}
