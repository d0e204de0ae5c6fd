package encryption

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// smallLog is the segment size used by tests that need many segments: 256-byte
// segments hold 192 plaintext bytes in segment 0 and 240 in every later one.
const smallLog = 8

func testKey(t testing.TB, seed byte) Key {
	t.Helper()
	var k Key
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func pattern(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// encrypt encrypts pt with a Writer of segment size 2^segLog, feeding it in writes
// of at most chunk bytes (0: one write).
func encrypt(t testing.TB, key Key, segLog int, pt []byte, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := newWriter(&out, key, segLog, cryptoRand{})
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, w, pt, chunk)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func writeChunks(t testing.TB, w io.Writer, pt []byte, chunk int) {
	t.Helper()
	if chunk <= 0 {
		chunk = len(pt) + 1
	}
	for len(pt) > 0 {
		n := min(chunk, len(pt))
		if k, err := w.Write(pt[:n]); err != nil || k != n {
			t.Fatalf("Write = %d, %v; want %d", k, err, n)
		}
		pt = pt[n:]
	}
}

// decryptStream decrypts with NewReader and returns what was released and the
// error that ended the stream (nil on success).
func decryptStream(ct []byte, key Key) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), key)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = io.Copy(&out, r)
	return out.Bytes(), err
}

// cryptoRand is crypto/rand for newWriter in tests.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return cryptoRandRead(p) }

// sizesFor returns the interesting plaintext sizes for segment size 2^segLog.
func sizesFor(segLog int) []int {
	seg := 1 << segLog
	first := seg - HeaderSize - TagSize
	c := seg - TagSize
	return []int{0, 1, first - 1, first, first + 1, first + c - 1, first + c, first + c + 1, first + 5*c + 17}
}
