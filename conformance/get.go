package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"testing"
	"testing/iotest"

	"github.com/lectern/lectern/core/storage"
)

func getChecks() []check {
	return []check{
		{"whole_object", getWhole},
		{"missing_key_not_found", getMissing},
		{"range_table", getRangeTable},
		{"range_start", func(t *testing.T, e *env) { wantRange(t, e, 0, 10) }},
		{"range_middle", func(t *testing.T, e *env) { wantRange(t, e, 100, 200) }},
		{"range_suffix_to_end", func(t *testing.T, e *env) { wantRange(t, e, 900, -1) }},
		{"range_last_byte", func(t *testing.T, e *env) { wantRange(t, e, rangeSize-1, 1) }},
		{"range_first_byte", func(t *testing.T, e *env) { wantRange(t, e, 0, 1) }},
		{"range_length_past_end_is_cut", func(t *testing.T, e *env) { wantRange(t, e, rangeSize-5, 100) }},
		// A length whose end overflows int64 is past the end too (a naive offset+length
		// turns negative).
		{"range_huge_length_is_cut", func(t *testing.T, e *env) { wantRange(t, e, 7, math.MaxInt64) }},
		{"range_zero_length", func(t *testing.T, e *env) { wantRange(t, e, 10, 0) }},
		{"range_offset_at_size_is_empty", func(t *testing.T, e *env) { wantRange(t, e, rangeSize, -1) }},
		{"range_zero_length_at_size", func(t *testing.T, e *env) { wantRange(t, e, rangeSize, 0) }},
		{"range_offset_past_end_invalid_range", getPastEnd},
		{"range_negative_offset_invalid_argument", func(t *testing.T, e *env) { badRange(t, e, -1, 10, storage.ErrInvalidArgument) }},
		{"range_negative_length_invalid_argument", func(t *testing.T, e *env) { badRange(t, e, 0, -2, storage.ErrInvalidArgument) }},
		{"empty_object_ranges", getEmptyRanges},
		{"attributes_describe_whole_object", getAttributes},
		{"streams_through_small_buffer", getStreamsSmallBuffer},
		{"body_is_an_ordinary_reader", getBodyReaderTest},
		{"close_body_early", getCloseEarly},
		{"many_open_bodies", getManyOpenBodies},
	}
}

const rangeSize = 1000

func rangeObject(e *env) []byte {
	data := payload(rangeSize, "ranges")
	e.put("rng", data)
	return data
}

func expected(data []byte, offset, length int64) []byte {
	end := int64(len(data))
	if length >= 0 && length < end-offset { // not offset+length: it can overflow
		end = offset + length
	}
	return data[offset:end]
}

func readRange(ctx context.Context, b *storage.Bucket, key string, offset, length int64) ([]byte, storage.Attributes, error) {
	rc, a, err := b.Get(ctx, key, offset, length)
	if err != nil {
		return nil, a, err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	return got, a, err
}

func wantRange(t *testing.T, e *env, offset, length int64) {
	t.Helper()
	data := rangeObject(e)
	got, _, err := readRange(e.ctx, e.b, "rng", offset, length)
	if err != nil {
		t.Fatalf("Get(offset %d, length %d): %v", offset, length, err)
	}
	if want := expected(data, offset, length); !bytes.Equal(got, want) {
		t.Fatalf("Get(offset %d, length %d) = %s, want %s", offset, length, describe(got), describe(want))
	}
}

// getRangeTable reads every combination of boundary offsets and lengths.
func getRangeTable(t *testing.T, e *env) {
	data := rangeObject(e)
	offsets := []int64{0, 1, 2, 499, 500, 998, 999, 1000}
	lengths := []int64{-1, 0, 1, 2, 500, 999, 1000, 1001, 5000}
	for _, off := range offsets {
		for _, n := range lengths {
			got, _, err := readRange(e.ctx, e.b, "rng", off, n)
			if err != nil {
				t.Fatalf("Get(offset %d, length %d): %v", off, n, err)
			}
			if want := expected(data, off, n); !bytes.Equal(got, want) {
				t.Fatalf("Get(offset %d, length %d) = %s, want %s", off, n, describe(got), describe(want))
			}
		}
	}
}

func getWhole(t *testing.T, e *env) {
	data := rangeObject(e)
	got, _, err := readRange(e.ctx, e.b, "rng", 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get(0, -1) = %s, %v; want %s", describe(got), err, describe(data))
	}
}

func getMissing(t *testing.T, e *env) {
	e.put("present", []byte("x"))
	for _, k := range []string{"absent", "presen", "present2", "present/child"} {
		_, _, err := readRange(e.ctx, e.b, k, 0, -1)
		wantKind(t, err, storage.ErrNotFound, fmt.Sprintf("Get(%q)", k))
	}
}

func getPastEnd(t *testing.T, e *env) {
	rangeObject(e)
	for _, off := range []int64{rangeSize + 1, rangeSize + 1000, 1 << 40} {
		for _, n := range []int64{-1, 0, 10} {
			_, _, err := readRange(e.ctx, e.b, "rng", off, n)
			wantKind(t, err, storage.ErrInvalidRange, fmt.Sprintf("Get(offset %d, length %d) of %d bytes", off, n, rangeSize))
		}
	}
}

func badRange(t *testing.T, e *env, offset, length int64, kind error) {
	rangeObject(e)
	_, _, err := readRange(e.ctx, e.b, "rng", offset, length)
	wantKind(t, err, kind, fmt.Sprintf("Get(offset %d, length %d)", offset, length))
}

func getEmptyRanges(t *testing.T, e *env) {
	e.put("empty", nil)
	for _, n := range []int64{-1, 0, 5} {
		got, _, err := readRange(e.ctx, e.b, "empty", 0, n)
		if err != nil || len(got) != 0 {
			t.Fatalf("Get(0, %d) of an empty object = %s, %v; want empty", n, describe(got), err)
		}
	}
	_, _, err := readRange(e.ctx, e.b, "empty", 1, -1)
	wantKind(t, err, storage.ErrInvalidRange, "Get(1, -1) of an empty object")
}

func getAttributes(t *testing.T, e *env) {
	put := e.put("rng", payload(rangeSize, "ranges"))
	_, a, err := readRange(e.ctx, e.b, "rng", 100, 10)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if a.Size != rangeSize {
		t.Errorf("Get of a range reported size %d, want the whole object's %d", a.Size, rangeSize)
	}
	if a.Version != put.Version {
		t.Errorf("Get reported version %q, want %q", a.Version, put.Version)
	}
	if a.Key != "rng" {
		t.Errorf("Get reported key %q, want %q", a.Key, "rng")
	}
}

// getStreamsSmallBuffer reads 4 MiB through a 4 KiB buffer, checking every chunk as
// it arrives: the body must yield correct bytes incrementally.
func getStreamsSmallBuffer(t *testing.T, e *env) {
	data := payload(4<<20, "stream")
	e.put("big", data)
	rc, _, err := e.b.Get(e.ctx, "big", 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	buf := make([]byte, 4096)
	pos := 0
	for {
		n, err := rc.Read(buf)
		if n > len(buf) || pos+n > len(data) {
			t.Fatalf("Read returned %d bytes at %d, past the buffer or the object", n, pos)
		}
		if !bytes.Equal(buf[:n], data[pos:pos+n]) {
			t.Fatalf("bytes %d..%d differ from what was stored", pos, pos+n)
		}
		pos += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read at %d: %v", pos, err)
		}
	}
	if pos != len(data) {
		t.Fatalf("read %d bytes, want %d", pos, len(data))
	}
}

// getBodyReaderTest runs the standard library's reader checks on a ranged body.
func getBodyReaderTest(t *testing.T, e *env) {
	data := payload(100_000, "iotest")
	e.put("io", data)
	want := data[1000:51_000]
	// The bytes first, so that a wrong range is told by where it goes wrong:
	// iotest.TestReader's own errors quote the whole content.
	got, _, err := readRange(e.ctx, e.b, "io", 1000, 50_000)
	if err != nil {
		t.Fatalf("Get(1000, 50000): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(1000, 50000) of a 100000-byte object = %s, want %s: %s", describe(got), describe(want), firstDifference(got, want))
	}
	rc, _, err := e.b.Get(e.ctx, "io", 1000, 50_000)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	if err := iotest.TestReader(rc, want); err != nil {
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		t.Fatalf("the body of Get(1000, 50000) does not behave as an io.Reader (iotest.TestReader): %s", msg)
	}
}

// firstDifference says where got first differs from want.
func firstDifference(got, want []byte) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at offset %d (got %d bytes, want %d)", i, len(got), len(want))
		}
	}
	return fmt.Sprintf("got %d bytes, want %d; the first %d agree", len(got), len(want), min(len(got), len(want)))
}

func getCloseEarly(t *testing.T, e *env) {
	data := payload(1<<20, "early")
	e.put("early", data)
	rc, _, err := e.b.Get(e.ctx, "early", 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("Close of a partly read body: %v", err)
	}
	// The object must still be whole and replaceable (an open handle can block that).
	e.wantContent(e.b, "early", data)
	e.put("early", []byte("replaced"))
	if err := e.b.Delete(e.ctx, "early"); err != nil {
		t.Fatalf("Delete after an early Close: %v", err)
	}
}

func getManyOpenBodies(t *testing.T, e *env) {
	data := payload(10_000, "many")
	e.put("m", data)
	var bodies []io.ReadCloser
	for i := range 20 {
		rc, _, err := e.b.Get(e.ctx, "m", int64(i*100), 100)
		if err != nil {
			t.Fatalf("Get %d with %d bodies open: %v", i, i, err)
		}
		bodies = append(bodies, rc)
	}
	for i, rc := range bodies {
		got, err := io.ReadAll(rc)
		rc.Close()
		if want := data[i*100 : i*100+100]; err != nil || !bytes.Equal(got, want) {
			t.Fatalf("body %d (Get(%d, 100), read after 20 bodies were opened) = %s, %v; want %s: %s", i, i*100, describe(got), err, describe(want), firstDifference(got, want))
		}
	}
}
