package encryption

import (
	"bytes"
	"errors"
	"testing"
)

// failOnce is a destination whose one write after the header fails, as a storage
// hiccup would; the writes before and after succeed.
type failOnce struct {
	buf    bytes.Buffer
	failed bool
}

func (f *failOnce) Write(p []byte) (int, error) {
	if !f.failed && f.buf.Len() > 0 {
		f.failed = true
		return 0, errors.New("transient")
	}
	return f.buf.Write(p)
}

// TestWriterCloseAfterAFailedWrite: after a segment write failed, Close must fail
// and write nothing. Were it to write the final segment (the destination working
// again), the bytes stored would end in a final segment: a valid, shorter file,
// kept from being taken for the content only by the caller checking Write's error.
func TestWriterCloseAfterAFailedWrite(t *testing.T) {
	key := testKey(t, 43)
	dst := &failOnce{}
	w, err := newWriter(dst, key, smallLog, cryptoRand{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(1000, 1)); err == nil {
		t.Fatal("setup: the write did not fail")
	}
	stored := dst.buf.Len()
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failed write returned nil")
	}
	if dst.buf.Len() != stored {
		t.Fatalf("Close after a failed write wrote %d more bytes", dst.buf.Len()-stored)
	}
	if _, err := Open(key, dst.buf.Bytes()); err == nil {
		t.Fatal("what the failed writer stored opens as a complete file")
	}
}

// TestReaderAtCacheSurvivesAFailedRead: the ReaderAt keeps the last segment it
// decrypted; that copy must not share memory with the pooled buffer the next read
// decrypts into. A later read of a damaged segment fails, and GCM wipes its output
// buffer on failure: an aliased cache would then serve zeros as segment 0.
func TestReaderAtCacheSurvivesAFailedRead(t *testing.T) {
	key := testKey(t, 44)
	pt, ct, h := fourSegments(t, key, 10)
	bad := bytes.Clone(ct)
	bad[h.cipherStart(2)+5] ^= 0x01 // segment 2 no longer authenticates
	ra, err := NewReaderAt(bytes.NewReader(bad), int64(len(bad)), key)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 20)
	if _, err := ra.ReadAt(p, 10); err != nil || !bytes.Equal(p, pt[10:30]) {
		t.Fatalf("first read: %x, %v", p, err)
	}
	for range 3 {
		if _, err := ra.ReadAt(p, h.plainStart(2)+3); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("damaged segment: %v; want ErrAuthentication", err)
		}
		if _, err := ra.ReadAt(p, 10); err != nil || !bytes.Equal(p, pt[10:30]) {
			t.Fatalf("segment 0 read again after a failed read: %x, %v; want %x", p, err, pt[10:30])
		}
	}
}
