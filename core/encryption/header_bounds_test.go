package encryption

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestParseHeaderRefusesSegmentSizesOutOfRange: the segment size comes from the
// (unauthenticated) header and sizes the readers' buffers; one over 2^maxSegmentLog
// would let a planted file make a reader allocate up to 2^63 bytes (or shift past
// 64 bits into a zero segment size and divide by it). Each must be ErrFormat.
func TestParseHeaderRefusesSegmentSizesOutOfRange(t *testing.T) {
	key := testKey(t, 42)
	_, ct, _ := fourSegments(t, key, 9)
	for _, log := range []byte{0, minSegmentLog - 1, maxSegmentLog + 1, maxSegmentLog + 2, 40, 63, 64, 200, 255} {
		bad := bytes.Clone(ct[:HeaderSize])
		bad[5] = log
		if _, err := ParseHeader(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("segment log %d: ParseHeader = %v; want ErrFormat", log, err)
		}
	}
	for _, log := range []byte{minSegmentLog, maxSegmentLog} {
		good := bytes.Clone(ct[:HeaderSize])
		good[5] = log
		if h, err := ParseHeader(good); err != nil || h.SegmentSize() != 1<<log {
			t.Errorf("segment log %d: ParseHeader = %d, %v; want accepted", log, h.SegmentSize(), err)
		}
	}
}

// TestResumePointOnSegmentBoundaries: a Writer interrupted after exactly k whole
// segments resumes after them, not before the last one. (Resuming earlier would
// still produce a valid file, which is why TestResume cannot see it, but a tus
// client would be told to send again bytes it already sent.)
func TestResumePointOnSegmentBoundaries(t *testing.T) {
	h := newHeader(smallLog, make([]byte, saltSize+noncePrefixSize))
	for _, k := range []uint64{1, 2, 5} {
		for _, extra := range []int64{-1, 0, 1} {
			written := h.cipherStart(k) + extra
			want := k
			if extra < 0 {
				want = k - 1
			}
			t.Run(fmt.Sprintf("%d segments%+d bytes", k, extra), func(t *testing.T) {
				rp, err := h.ResumePoint(written)
				if err != nil || rp.Segments != want || rp.CiphertextOffset != h.cipherStart(want) || rp.PlaintextOffset != h.plainStart(want) {
					t.Fatalf("ResumePoint(%d) = %+v, %v; want %d segments", written, rp, err, want)
				}
			})
		}
	}
}
