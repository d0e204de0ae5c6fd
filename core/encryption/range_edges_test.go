package encryption

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestRangeReaderAuthenticatesTheFinalSegmentOfACutFile: a file cut right after the
// tag of a segment boundary looks like a complete file whose final segment is empty
// (a tag alone). A range reaching the end of it must still authenticate that
// "final" segment (it is not one: its nonce lacks the final flag), otherwise the
// server's ranged GET (conference.openEncrypted) serves a cut file as whole.
func TestRangeReaderAuthenticatesTheFinalSegmentOfACutFile(t *testing.T) {
	key := testKey(t, 40)
	_, ct, h := fourSegments(t, key, 7)
	for k := uint64(1); k <= 3; k++ {
		cut := h.cipherStart(k) + TagSize
		for _, off := range []int64{0, h.plainStart(k-1) + 1, h.plainStart(k)} {
			t.Run(fmt.Sprintf("cut%d/off%d", k, off), func(t *testing.T) {
				bad := ct[:cut]
				start, length, err := h.CiphertextRange(cut, off, -1)
				if err != nil {
					t.Fatalf("CiphertextRange: %v", err)
				}
				r, err := NewRangeReader(bytes.NewReader(bad[start:start+length]), key, h, cut, off, -1)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if !errors.Is(err, ErrAuthentication) {
					t.Fatalf("range reader returned %d bytes and %v; want ErrAuthentication", len(got), err)
				}
			})
		}
	}
}

// TestRangeReaderStartsInsideASegment: a range starting a few bytes into a segment
// must drop exactly those bytes of the decrypted segment; an off-by-one in the skip
// (1 byte, the smallest) would serve the wrong bytes as valid content.
func TestRangeReaderStartsInsideASegment(t *testing.T) {
	key := testKey(t, 41)
	pt, ct, h := fourSegments(t, key, 8)
	csize := int64(len(ct))
	for i := uint64(0); i <= 3; i++ {
		for _, skip := range []int64{1, 2} {
			off := h.plainStart(i) + skip
			n := min(int64(10), int64(len(pt))-off)
			t.Run(fmt.Sprintf("segment%d/skip%d", i, skip), func(t *testing.T) {
				start, length, err := h.CiphertextRange(csize, off, n)
				if err != nil {
					t.Fatal(err)
				}
				r, err := NewRangeReader(bytes.NewReader(ct[start:start+length]), key, h, csize, off, n)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, pt[off:off+n]) {
					t.Fatalf("got %x, %v; want %x", got, err, pt[off:off+n])
				}
			})
		}
	}
}
