package confapi_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/lectern/lectern/core/conference"
)

// TestDecryptRangeToTheLargestEnd: a last-byte-pos past the end is cut to the end
// (RFC 9110 14.1.2), however large: the largest int64 must not overflow the length
// into a refusal.
func TestDecryptRangeToTheLargestEnd(t *testing.T) {
	e := newEnv(t)
	_, attendee := e.conference("ranges")
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	st, err := e.engine.StoreContent(context.Background(), "ranges", conference.SlideContent, "png", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/conferences/ranges/content/" + st.Name + "/plain"
	tests := []struct {
		rng  string
		from int
	}{
		{"bytes=10-9223372036854775807", 10},
		{"bytes=0-9223372036854775807", 0},
		{"bytes=99990-9223372036854775806", 99990},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r := e.do("GET", path, attendee, "", nil, "Lectern-Key", st.Key.Hex(), "Range", tt.rng)
			if r.status != 206 {
				t.Fatalf("status %d, want 206: %s", r.status, r.body)
			}
			want := "bytes " + strconv.Itoa(tt.from) + "-" + strconv.Itoa(len(data)-1) + "/" + strconv.Itoa(len(data))
			if got := r.header.Get("Content-Range"); got != want || !bytes.Equal(r.body, data[tt.from:]) {
				t.Fatalf("Content-Range %q (want %q), %d bytes (want %d)", got, want, len(r.body), len(data)-tt.from)
			}
		})
	}
}
