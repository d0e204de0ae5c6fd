package confapi_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
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
	if r := e.do("GET", path, attendee, "", nil, "Lectern-Key", st.Key.Hex(), "Range", "bytes=100000-"); r.status != 416 || r.header.Get("Content-Range") != "bytes */100000" {
		t.Fatalf("a range from the end: status %d, Content-Range %q", r.status, r.header.Get("Content-Range"))
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

// TestDecryptRangeOfEmptyContent: no range of an empty file is satisfiable; the answer
// is 416 with "bytes */0", as the ciphertext route (http.ServeContent) answers, never
// a 206 whose Content-Range ends before it starts.
func TestDecryptRangeOfEmptyContent(t *testing.T) {
	e := newEnv(t)
	_, attendee := e.conference("empty")
	st, err := e.engine.StoreContent(context.Background(), "empty", conference.SlideContent, "png", bytes.NewReader(nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/conferences/empty/content/" + st.Name + "/plain"
	r := e.do("GET", path, attendee, "", nil, "Lectern-Key", st.Key.Hex(), "Range", "bytes=0-")
	if r.status != 416 || r.header.Get("Content-Range") != "bytes */0" || r.code() != "range_not_satisfiable" {
		t.Fatalf("status %d, Content-Range %q: %s", r.status, r.header.Get("Content-Range"), r.body)
	}
	// Without a Range the empty file is an empty 200.
	if r := e.do("GET", path, attendee, "", nil, "Lectern-Key", st.Key.Hex()); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("status %d, %d bytes", r.status, len(r.body))
	}
}

// TestDecryptWrongKeyWithRange: a wrong key is a 400 whatever the Range; only a 416
// carries Content-Range (RFC 9110 15.5.17).
func TestDecryptWrongKeyWithRange(t *testing.T) {
	e := newEnv(t)
	_, attendee := e.conference("wrong")
	st, err := e.engine.StoreContent(context.Background(), "wrong", conference.SlideContent, "png", bytes.NewReader(make([]byte, 70_000)), 70_000)
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/conferences/wrong/content/"+st.Name+"/plain", attendee, "", nil,
		"Lectern-Key", strings.Repeat("00", 32), "Range", "bytes=100-199")
	if r.status != 400 || r.header.Get("Content-Range") != "" {
		t.Fatalf("status %d, Content-Range %q: %s", r.status, r.header.Get("Content-Range"), r.body)
	}
}

// TestDecryptRangeUnits: as on the ciphertext route (RFC 9110 §14.2), a range of
// another unit is ignored and the unit is matched in any case.
func TestDecryptRangeUnits(t *testing.T) {
	e := newEnv(t)
	_, attendee := e.conference("units")
	data := bytes.Repeat([]byte("abcdefghij"), 1_000)
	st, err := e.engine.StoreContent(context.Background(), "units", conference.SlideContent, "png", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/conferences/units/content/" + st.Name + "/plain"
	tests := []struct {
		rng    string
		status int
		body   []byte
	}{
		{"items=0-9", 200, data},
		{"0-9", 200, data},
		{"BYTES=10-19", 206, data[10:20]},
		{"bytes=19-10", 416, nil},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r := e.do("GET", path, attendee, "", nil, "Lectern-Key", st.Key.Hex(), "Range", tt.rng)
			if r.status != tt.status || tt.body != nil && !bytes.Equal(r.body, tt.body) {
				t.Fatalf("status %d, %d bytes; want %d, %d bytes", r.status, len(r.body), tt.status, len(tt.body))
			}
		})
	}
}

// TestDecryptRangeForms: the decrypting route serves one range "bytes=a-b" or
// "bytes=a-"; a satisfiable Range it does not serve (a suffix, several ranges) is
// ignored and the whole content sent (RFC 9110 §14.2), never a 416; empty list
// elements do not count; a Range that does not parse is 416.
func TestDecryptRangeForms(t *testing.T) {
	e := newEnv(t)
	_, attendee := e.conference("forms")
	data := bytes.Repeat([]byte("0123456789"), 1_000)
	st, err := e.engine.StoreContent(context.Background(), "forms", conference.SlideContent, "png", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/conferences/forms/content/" + st.Name + "/plain"
	tests := []struct {
		rng          string
		status       int
		body         []byte
		contentRange string
	}{
		{"bytes=10-19", 206, data[10:20], "bytes 10-19/10000"},
		{"bytes=10-19, ,,", 206, data[10:20], "bytes 10-19/10000"},
		{"bytes=9990-", 206, data[9990:], "bytes 9990-9999/10000"},
		{"bytes=-10", 200, data, ""},
		{"bytes=-0", 200, data, ""},
		{"bytes=0-1,5-6", 200, data, ""},
		{"bytes=0-1,-5", 200, data, ""},
		{"bytes=abc", 416, nil, ""},
		{"bytes=0-1,abc", 416, nil, ""},
		{"bytes=-x", 416, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r := e.do("GET", path, attendee, "", nil, "Lectern-Key", st.Key.Hex(), "Range", tt.rng)
			if r.status != tt.status || tt.body != nil && !bytes.Equal(r.body, tt.body) {
				t.Fatalf("status %d, %d bytes; want %d, %d bytes: %.200s", r.status, len(r.body), tt.status, len(tt.body), r.body)
			}
			if tt.status == 416 && r.code() != "range_not_satisfiable" {
				t.Fatalf("code %q", r.code())
			}
			if got := r.header.Get("Content-Range"); tt.contentRange != "" && got != tt.contentRange {
				t.Fatalf("Content-Range %q, want %q", got, tt.contentRange)
			}
		})
	}
}
