package encryption

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestResume encrypts in two sessions: the first is interrupted (never closed, and
// possibly with a partly written segment at the end), the second continues from
// Header.ResumePoint. The result must be one valid file, byte-identical to a
// single-session encryption with the same header.
func TestResume(t *testing.T) {
	key := testKey(t, 30)
	h0 := newHeader(smallLog, make([]byte, saltSize+noncePrefixSize))
	pt := pattern(int(h0.firstCap()+7*h0.segCap()+33), 8)
	random := pattern(saltSize+noncePrefixSize, 9)

	var whole bytes.Buffer
	w, err := newWriter(&whole, key, smallLog, bytes.NewReader(random))
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, w, pt, 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for _, stop := range []int{0, 1, 191, 192, 193, 432, 433, 1000, len(pt) - 1, len(pt)} {
		for _, lostTail := range []int{0, 1, 100} {
			t.Run(fmt.Sprintf("stop%d/lost%d", stop, lostTail), func(t *testing.T) {
				// Session 1: write stop bytes, then "crash": no Close, and the
				// last lostTail bytes that reached storage are lost.
				var first bytes.Buffer
				w, err := newWriter(&first, key, smallLog, bytes.NewReader(random))
				if err != nil {
					t.Fatal(err)
				}
				writeChunks(t, w, pt[:stop], 37)
				if got := w.Segments(); h0.cipherStart(got) != int64(first.Len()) && got > 0 {
					t.Fatalf("Segments() = %d but %d bytes written", got, first.Len())
				}
				stored := first.Bytes()[:max(HeaderSize, first.Len()-lostTail)]

				// Session 2: only the stored bytes and the key are known.
				h, err := ParseHeader(stored)
				if err != nil {
					t.Fatal(err)
				}
				rp, err := h.ResumePoint(int64(len(stored)))
				if err != nil {
					t.Fatal(err)
				}
				if rp.PlaintextOffset > int64(stop) {
					t.Fatalf("resume point %d is past the %d bytes written", rp.PlaintextOffset, stop)
				}
				out := bytes.NewBuffer(bytes.Clone(stored[:rp.CiphertextOffset]))
				w2, err := ResumeWriter(out, key, stored[:HeaderSize], rp.Segments)
				if err != nil {
					t.Fatal(err)
				}
				writeChunks(t, w2, pt[rp.PlaintextOffset:], 101)
				if err := w2.Close(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), whole.Bytes()) {
					t.Fatalf("resumed file differs from a single-session file")
				}
				if got, err := Open(key, out.Bytes()); err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("resumed file: %d bytes, %v", len(got), err)
				}
			})
		}
	}
}

func TestResumeErrors(t *testing.T) {
	key := testKey(t, 31)
	if _, err := ResumeWriter(&bytes.Buffer{}, key, []byte("not a header"), 0); !errors.Is(err, ErrFormat) {
		t.Errorf("bad header: %v, want ErrFormat", err)
	}
	ct := encrypt(t, key, smallLog, pattern(100, 1), 0)
	if _, err := ResumeWriter(&bytes.Buffer{}, key, ct[:HeaderSize], 1<<32); !errors.Is(err, ErrTooLarge) {
		t.Errorf("2^32 segments: %v, want ErrTooLarge", err)
	}
	h, _ := ParseHeader(ct)
	if _, err := h.ResumePoint(HeaderSize - 1); !errors.Is(err, ErrTruncated) {
		t.Errorf("resume with an incomplete header: %v, want ErrTruncated", err)
	}
	// Resuming with another key yields a file that does not authenticate.
	var first bytes.Buffer
	w, _ := newWriter(&first, key, smallLog, cryptoRand{})
	writeChunks(t, w, pattern(500, 2), 0)
	w2, err := ResumeWriter(&first, testKey(t, 32), first.Bytes()[:HeaderSize], w.Segments())
	if err != nil {
		t.Fatal(err)
	}
	_ = w2.Close()
	if _, err := Open(key, first.Bytes()); !errors.Is(err, ErrAuthentication) {
		t.Errorf("file resumed with another key: %v, want ErrAuthentication", err)
	}
}
