package encryption

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"
)

// TestIntactSegments damages the end of a file the ways an interrupted in-place
// append can (cut, torn, zero-filled) and checks that exactly the segments before
// the damage are reported intact, from any starting segment.
func TestIntactSegments(t *testing.T) {
	key := testKey(t, 40)
	h := newHeader(smallLog, pattern(saltSize+noncePrefixSize, 41))
	segs := uint64(6)
	pt := pattern(int(h.plainStart(segs)+55), 42) // 6 whole segments and a final one
	var buf bytes.Buffer
	w, err := writerAt(&buf, key, h, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(h.Bytes())
	writeChunks(t, w, pt, 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	end := h.cipherStart(segs) // where the final segment starts

	zeroed := bytes.Clone(file)
	clear(zeroed[h.cipherStart(4)+3 : h.cipherStart(5)]) // segment 4 reached the disk only in part
	flipped := bytes.Clone(file)
	flipped[len(flipped)-1] ^= 1

	tests := []struct {
		name      string
		file      []byte
		first     uint64
		wantWhole uint64
		wantFinal bool
	}{
		{"complete", file, 0, segs, true},
		{"complete_from_3", file, 3, segs - 3, true},
		{"cut_after_whole_segments", file[:end], 0, segs, false},
		{"cut_inside_final", file[:len(file)-1], 0, segs, false},
		{"cut_inside_segment_2", file[:h.cipherStart(2)+10], 0, 2, false},
		{"cut_to_less_than_a_tag", file[:h.cipherStart(3)+TagSize-1], 1, 2, false},
		{"zero_filled_segment_4", zeroed, 0, 4, false},
		{"zero_filled_from_4", zeroed, 4, 0, false},
		{"flipped_final", flipped, 2, segs - 2, false},
		{"nothing_after_first", file[:h.cipherStart(2)], 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := bytes.NewReader(tt.file[h.cipherStart(tt.first):])
			whole, final, err := h.IntactSegments(key, iotest.HalfReader(src), tt.first)
			if err != nil || whole != tt.wantWhole || final != tt.wantFinal {
				t.Fatalf("IntactSegments = %d, %v, %v; want %d, %v", whole, final, err, tt.wantWhole, tt.wantFinal)
			}
		})
	}

	t.Run("wrong_key", func(t *testing.T) {
		whole, final, err := h.IntactSegments(testKey(t, 43), bytes.NewReader(file[HeaderSize:]), 0)
		if err != nil || whole != 0 || final {
			t.Fatalf("IntactSegments with another key = %d, %v, %v", whole, final, err)
		}
	})
	t.Run("read_error", func(t *testing.T) {
		boom := errors.New("disk gone")
		src := iotest.ErrReader(boom)
		if _, _, err := h.IntactSegments(key, src, 0); !errors.Is(err, boom) {
			t.Fatalf("IntactSegments on a failing source: %v, want %v", err, boom)
		}
	})
}
