package httpapi

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// TestRangeEdges pins the RFC 9110 edges of Range on the content route: a zero-length
// suffix is unsatisfiable; the range cap counts ranges, not commas, and applies only
// to a Range that is honoured, after the preconditions and If-Range.
func TestRangeEdges(t *testing.T) {
	e := newEnv(t)
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, data)
	path := ContentPath(testOrg, testConf, testName)
	tok := e.token(RoleAttendee, testConf)
	etag := e.do(http.MethodHead, path, bearer(tok), nil).header.Get("ETag")
	nine := "bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8"
	eight := "bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7"

	tests := []struct {
		name   string
		header []string
		status int
		parts  [][]byte // the bodies of a 206, one per part; nil for any other status
		msg    string   // a part of the error message
	}{
		{"zero-length suffix", []string{"Range", "bytes=-0"}, 416, nil, ""},
		{"zero-length suffix with spaces", []string{"Range", "bytes= -00 "}, 416, nil, ""},
		{"zero-length suffix beside a satisfiable range", []string{"Range", "bytes=-0,0-4"}, 206, [][]byte{data[:5]}, ""},
		{"suffix", []string{"Range", "bytes=-10"}, 206, [][]byte{data[990:]}, ""},
		{"empty list elements", []string{"Range", "bytes=0-1, ,5-6,,,,,,,,"}, 206, [][]byte{data[0:2], data[5:7]}, ""},
		{"eight ranges and empty elements", []string{"Range", eight + ",,,,,,"}, 206,
			[][]byte{data[0:1], data[1:2], data[2:3], data[3:4], data[4:5], data[5:6], data[6:7], data[7:8]}, ""},
		{"nine ranges", []string{"Range", nine}, 416, nil, "at most 8 ranges"},
		{"nine ranges, If-Range current", []string{"Range", nine, "If-Range", etag}, 416, nil, "at most 8 ranges"},
		{"nine ranges, If-Range stale: the whole file", []string{"Range", nine, "If-Range", `"stale"`}, 200, nil, ""},
		{"nine ranges, If-None-Match current", []string{"Range", nine, "If-None-Match", etag}, 304, nil, ""},
		{"nine ranges, If-Match other", []string{"Range", nine, "If-Match", `"other"`}, 412, nil, ""},
		{"zero-length suffix, If-Range stale", []string{"Range", "bytes=-0", "If-Range", `"stale"`}, 200, nil, ""},
		{"malformed", []string{"Range", "bytes=abc"}, 416, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bearer(tok)
			for i := 0; i+1 < len(tt.header); i += 2 {
				h[tt.header[i]] = tt.header[i+1]
			}
			r := e.do(http.MethodGet, path, h, nil)
			switch tt.status {
			case 416:
				wantError(t, r, 416, CodeRangeNotSatisfiable)
				if got := r.header.Get("Content-Range"); got != "bytes */1000" {
					t.Fatalf("Content-Range %q, want bytes */1000", got)
				}
				if !strings.Contains(string(r.body), tt.msg) {
					t.Fatalf("message %s does not say %q", r.body, tt.msg)
				}
			case 200:
				if r.status != 200 || !bytes.Equal(r.body, data) {
					t.Fatalf("status %d, %d bytes; want 200 and the whole file", r.status, len(r.body))
				}
			case 206:
				if r.status != 206 {
					t.Fatalf("status %d, want 206: %s", r.status, r.body)
				}
				if got := partsOf(t, r); len(got) != len(tt.parts) {
					t.Fatalf("%d parts, want %d", len(got), len(tt.parts))
				} else {
					for i := range got {
						if !bytes.Equal(got[i], tt.parts[i]) {
							t.Fatalf("part %d: %d bytes, not the range asked for", i, len(got[i]))
						}
					}
				}
			default:
				if r.status != tt.status {
					t.Fatalf("status %d, want %d", r.status, tt.status)
				}
			}
		})
	}
}

// partsOf returns the bodies of a 206: one, or each part of a multipart/byteranges.
func partsOf(t *testing.T, r reply) [][]byte {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		return [][]byte{r.body}
	}
	var out [][]byte
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}
