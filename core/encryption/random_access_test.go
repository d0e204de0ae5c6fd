package encryption

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

func TestReaderAtEveryBoundary(t *testing.T) {
	key := testKey(t, 20)
	for _, size := range sizesFor(smallLog) {
		pt := pattern(size, 3)
		ct := encrypt(t, key, smallLog, pt, 0)
		ra, err := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
		if err != nil {
			t.Fatal(err)
		}
		if ra.Size() != int64(size) {
			t.Fatalf("Size = %d, want %d", ra.Size(), size)
		}
		seg := 1 << smallLog
		for off := 0; off <= size; off++ {
			for _, n := range []int{0, 1, 15, seg - 1, seg, seg + 1, size - off, size - off + 3} {
				if n < 0 {
					continue
				}
				p := make([]byte, n)
				got, err := ra.ReadAt(p, int64(off))
				want := min(n, size-off)
				if got != want || !bytes.Equal(p[:got], pt[off:off+want]) {
					t.Fatalf("size %d: ReadAt(len %d, off %d) = %d bytes (match %v), want %d",
						size, n, off, got, bytes.Equal(p[:got], pt[off:off+got]), want)
				}
				if (got < n) != errors.Is(err, io.EOF) || (err != nil && !errors.Is(err, io.EOF)) {
					t.Fatalf("size %d: ReadAt(len %d, off %d) err = %v", size, n, off, err)
				}
			}
		}
		if _, err := ra.ReadAt(make([]byte, 1), -1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("negative offset: %v", err)
		}
	}
}

func TestReaderAtConcurrent(t *testing.T) {
	key := testKey(t, 21)
	pt := pattern(20000, 4)
	ct := encrypt(t, key, smallLog, pt, 0)
	ra, err := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for off := g * 97; off < len(pt); off += 811 {
				p := make([]byte, 500)
				n, err := ra.ReadAt(p, int64(off))
				if err != nil && !errors.Is(err, io.EOF) || !bytes.Equal(p[:n], pt[off:off+n]) {
					errs <- fmt.Errorf("off %d: %d bytes, %v", off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestRangeReader(t *testing.T) {
	key := testKey(t, 22)
	for _, size := range sizesFor(smallLog) {
		pt := pattern(size, 5)
		ct := encrypt(t, key, smallLog, pt, 0)
		h, _ := ParseHeader(ct)
		csize := int64(len(ct))
		for off := 0; off <= size; off += 13 {
			for _, n := range []int{-1, 0, 1, 191, 240, 241, 700, size - off} {
				t.Run(fmt.Sprintf("size%d/off%d/n%d", size, off, n), func(t *testing.T) {
					start, length, err := h.CiphertextRange(csize, int64(off), int64(n))
					if err != nil {
						t.Fatal(err)
					}
					if start < HeaderSize && length > 0 || start+length > csize {
						t.Fatalf("range %d+%d outside the segments", start, length)
					}
					end := size
					if n >= 0 {
						end = min(size, off+n)
					}
					body := ct[start : start+length]
					r, err := NewRangeReader(bytes.NewReader(body), key, h, csize, int64(off), int64(n))
					if err != nil {
						t.Fatal(err)
					}
					got, err := io.ReadAll(r)
					if err != nil || !bytes.Equal(got, pt[off:end]) {
						t.Fatalf("got %d bytes, %v; want %d", len(got), err, end-off)
					}
					if length == 0 {
						return
					}
					// One flipped bit inside the fetched bytes must be caught,
					// and so must a body shorter than the range.
					bad := bytes.Clone(body)
					bad[len(bad)/2] ^= 0x80
					r, _ = NewRangeReader(bytes.NewReader(bad), key, h, csize, int64(off), int64(n))
					if _, err := io.ReadAll(r); !errors.Is(err, ErrAuthentication) {
						t.Fatalf("tampered range: %v", err)
					}
					r, _ = NewRangeReader(bytes.NewReader(body[:len(body)-1]), key, h, csize, int64(off), int64(n))
					if _, err := io.ReadAll(r); !errors.Is(err, ErrTruncated) {
						t.Fatalf("short range body: %v", err)
					}
				})
			}
		}
	}
}

func TestRangeArguments(t *testing.T) {
	key := testKey(t, 23)
	ct := encrypt(t, key, smallLog, pattern(1000, 6), 0)
	h, _ := ParseHeader(ct)
	csize := int64(len(ct))
	for _, c := range []struct{ off, n int64 }{{-1, 1}, {1001, 0}, {0, -2}} {
		if _, _, err := h.CiphertextRange(csize, c.off, c.n); !errors.Is(err, ErrTooLarge) {
			t.Errorf("CiphertextRange(%d, %d): %v, want ErrTooLarge", c.off, c.n, err)
		}
		if _, err := NewRangeReader(bytes.NewReader(nil), key, h, csize, c.off, c.n); !errors.Is(err, ErrTooLarge) {
			t.Errorf("NewRangeReader(%d, %d): %v, want ErrTooLarge", c.off, c.n, err)
		}
	}
	if _, _, err := h.CiphertextRange(h.cipherStart(2), 0, 1); !errors.Is(err, ErrTruncated) {
		t.Errorf("size on a segment boundary: %v, want ErrTruncated", err)
	}
}

func TestSizeFunctions(t *testing.T) {
	h := newHeader(smallLog, make([]byte, saltSize+noncePrefixSize))
	prev := int64(0)
	for p := int64(0); p < 5000; p++ {
		c, err := h.CiphertextSize(p)
		if err != nil {
			t.Fatal(err)
		}
		if c <= prev {
			t.Fatalf("CiphertextSize not increasing at %d", p)
		}
		prev = c
		if back, err := h.PlaintextSize(c); err != nil || back != p {
			t.Fatalf("PlaintextSize(CiphertextSize(%d)=%d) = %d, %v", p, c, back, err)
		}
	}
	if _, err := CiphertextSize(-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("negative size: %v", err)
	}
	if _, err := CiphertextSize(1 << 62); !errors.Is(err, ErrTooLarge) {
		t.Errorf("2^62 bytes (> 2^32 segments): %v", err)
	}
	// 16 bytes per 64 KiB segment plus the header: about 0.024% overhead.
	if c, err := CiphertextSize(1 << 30); err != nil || c <= 1<<30 || float64(c-(1<<30))/(1<<30) > 0.00025 {
		t.Errorf("CiphertextSize(1 GiB) = %d, %v", c, err)
	}
}

func TestZeroHeaderIsAnErrorNotAPanic(t *testing.T) {
	var h Header
	if _, err := h.CiphertextSize(10); !errors.Is(err, ErrFormat) {
		t.Errorf("CiphertextSize: %v", err)
	}
	if _, err := h.PlaintextSize(100); !errors.Is(err, ErrFormat) {
		t.Errorf("PlaintextSize: %v", err)
	}
	if _, _, err := h.CiphertextRange(100, 0, 1); !errors.Is(err, ErrFormat) {
		t.Errorf("CiphertextRange: %v", err)
	}
	if _, err := h.ResumePoint(100); !errors.Is(err, ErrFormat) {
		t.Errorf("ResumePoint: %v", err)
	}
	if _, err := NewRangeReader(bytes.NewReader(nil), testKey(t, 1), h, 100, 0, 1); !errors.Is(err, ErrFormat) {
		t.Errorf("NewRangeReader: %v", err)
	}
}
