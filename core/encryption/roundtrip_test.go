package encryption

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	type tc struct {
		name   string
		segLog int
		size   int
		chunk  int
	}
	var cases []tc
	for _, segLog := range []int{smallLog, defaultSegmentLog} {
		for _, size := range sizesFor(segLog) {
			for _, chunk := range []int{0, 1, 7, 1000} {
				if chunk == 1 && size > 5000 {
					continue // byte-by-byte writes of big inputs add time, not coverage
				}
				cases = append(cases, tc{fmt.Sprintf("seg2^%d/size%d/chunk%d", segLog, size, chunk), segLog, size, chunk})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pt := pattern(c.size, uint64(c.size))
			ct := encrypt(t, key, c.segLog, pt, c.chunk)
			h, err := ParseHeader(ct)
			if err != nil {
				t.Fatal(err)
			}
			if want, err := h.CiphertextSize(int64(len(pt))); err != nil || want != int64(len(ct)) {
				t.Fatalf("CiphertextSize = %d, %v; file has %d bytes", want, err, len(ct))
			}
			if got, err := h.PlaintextSize(int64(len(ct))); err != nil || got != int64(len(pt)) {
				t.Fatalf("PlaintextSize = %d, %v; want %d", got, err, len(pt))
			}
			got, err := decryptStream(ct, key)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("stream decrypt: %d bytes, %v; want %d bytes", len(got), err, len(pt))
			}
			got, err = Open(key, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open: %d bytes, %v", len(got), err)
			}
			// Small reads exercise the Read path (io.Copy uses WriteTo).
			r, err := NewReader(bytes.NewReader(ct), key)
			if err != nil {
				t.Fatal(err)
			}
			got, err = io.ReadAll(io.LimitReader(struct{ io.Reader }{r}, int64(len(pt))+1))
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Read: %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	key := testKey(t, 2)
	for _, size := range sizesFor(defaultSegmentLog) {
		pt := pattern(size, 9)
		ct, err := Seal(key, pt)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := CiphertextSize(int64(size)); int64(len(ct)) != want {
			t.Fatalf("size %d: Seal gave %d bytes, CiphertextSize says %d", size, len(ct), want)
		}
		if n, err := PlaintextSize(int64(len(ct))); err != nil || n != int64(size) {
			t.Fatalf("PlaintextSize = %d, %v", n, err)
		}
		got, err := Open(key, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("size %d: Open = %d bytes, %v", size, len(got), err)
		}
		again, _ := Seal(key, pt)
		if bytes.Equal(again, ct) {
			t.Fatalf("two Seals of the same plaintext are identical: salt not random")
		}
	}
}

func TestEmptyPlaintextIsOneFinalSegment(t *testing.T) {
	ct, err := Seal(testKey(t, 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != HeaderSize+TagSize {
		t.Fatalf("empty plaintext: %d bytes, want header + one tag = %d", len(ct), HeaderSize+TagSize)
	}
}

func TestWriterErrors(t *testing.T) {
	key := testKey(t, 4)
	w, err := NewWriter(io.Discard, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}

	boom := errors.New("disk full")
	fw := &failingWriter{after: HeaderSize, err: boom}
	w, err = newWriter(fw, key, smallLog, cryptoRand{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1000)); !errors.Is(err, boom) {
		t.Fatalf("Write to failing dst: %v, want the dst error", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, boom) {
		t.Fatalf("Write after failure: %v, want the sticky dst error", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close after failure: %v, want the dst error", err)
	}
	if _, err := NewWriter(&failingWriter{err: boom}, key); !errors.Is(err, boom) {
		t.Fatalf("NewWriter with failing dst: %v", err)
	}
}

type failingWriter struct {
	after int
	err   error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after >= len(p) {
		f.after -= len(p)
		return len(p), nil
	}
	return 0, f.err
}

func TestReaderPassesThroughIOErrors(t *testing.T) {
	key := testKey(t, 5)
	ct := encrypt(t, key, smallLog, pattern(1000, 1), 0)
	boom := errors.New("network down")
	src := io.MultiReader(bytes.NewReader(ct[:300]), errReader{boom})
	r, err := NewReader(src, key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, boom) || errors.Is(err, ErrAuthentication) || errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v; want the source's error, unclassified", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
