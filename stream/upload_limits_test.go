package stream

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi"
)

// TestDeferredLengthUploadStopsAtThePerFileLimit: an upload of deferred length has
// no Upload-Length for tusd to check, so the per-file limit of its purpose is all that
// bounds it while it grows. A handout PATCH that carries one byte more than the limit
// must be refused with 413 and leave the offset within the limit; one that brings the
// upload exactly to the limit is accepted. Without the cap (or with an off-by-one in
// it), a handout could grow to the whole conference quota.
func TestDeferredLengthUploadStopsAtThePerFileLimit(t *testing.T) {
	forEachMode(t, func(t *testing.T, newBackend func(testing.TB) *backend) {
		const maxFile = 1000
		be := newBackend(t)
		in := be.start(t, withLimits(conference.Limits{MaxContentFile: 100_000, MaxHandoutFile: maxFile,
			MaxConferenceContent: 1 << 30, MaxConferenceHandouts: 1 << 30, MaxContentFiles: 10, MaxHandoutFiles: 10}))
		conf := in.conference("conf-a")
		tok := in.token(httpapi.RolePresenter, conf, "alice")
		deferred := func(t *testing.T) string {
			t.Helper()
			r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{
				"Upload-Defer-Length": "1", "Upload-Metadata": meta("purpose", "handout", "filename", "h.pdf")}, nil)
			if r.status != http.StatusCreated {
				t.Fatalf("create: %v", r)
			}
			return locationPath(t, r)
		}
		cases := []struct {
			name  string
			from  int64 // bytes sent first, accepted
			size  int   // then one PATCH of this many bytes
			want  int
			after int64 // the offset after it
		}{
			{"one byte over in one PATCH", 0, maxFile + 1, http.StatusRequestEntityTooLarge, 0},
			{"one byte over after earlier bytes", 600, maxFile - 600 + 1, http.StatusRequestEntityTooLarge, 600},
			{"well over", 0, 5 * maxFile, http.StatusRequestEntityTooLarge, 0},
			{"exactly the limit", 600, maxFile - 600, http.StatusNoContent, maxFile},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				loc := deferred(t)
				data := textData(int(tc.from) + tc.size)
				if tc.from > 0 {
					in.sendAll(loc, tok, data[:tc.from], 0, int(tc.from))
				}
				r := in.patch(loc, tok, tc.from, data[tc.from:])
				if r.status != tc.want {
					t.Fatalf("PATCH of %d bytes at %d: %v, want %d", tc.size, tc.from, r, tc.want)
				}
				got := in.offset(loc, tok)
				if got > maxFile {
					t.Fatalf("offset %d is over the per-file limit %d", got, maxFile)
				}
				if got != tc.after {
					t.Fatalf("offset %d after the PATCH, want %d", got, tc.after)
				}
			})
		}
	})
}

// TestMalformedUploadChecksumIsABadRequest: an Upload-Checksum header that cannot be
// a checksum (unknown algorithm, not base64, a digest of the wrong length for its
// algorithm) is the client's mistake in the header, answered 400 before any byte is
// read. Taking a digest of the wrong length would make every such PATCH a 460
// "checksum mismatch", which tells the client its bytes were damaged in transit and
// to send them again, forever.
func TestMalformedUploadChecksumIsABadRequest(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := []byte("0123456789")
	loc := in.create(conf, tok, int64(len(data)), "")
	b64 := base64.StdEncoding.EncodeToString
	cases := []struct{ name, value string }{
		{"sha1 digest too short", "sha1 " + b64([]byte("12345"))},
		{"sha1 digest too long", "sha1 " + digestB64("sha256", data)},
		{"sha256 with a sha1 digest", "sha256 " + sha1B64(data)},
		{"md5 with an empty digest", "md5 "},
		{"not base64", "sha1 !!!!"},
		{"no digest", "sha1"},
		{"unknown algorithm", "crc32 " + b64([]byte{1, 2, 3, 4})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := in.patch(loc, tok, 0, data, "Upload-Checksum", tc.value)
			if r.status != http.StatusBadRequest {
				t.Fatalf("Upload-Checksum %q: %v, want 400", tc.value, r)
			}
			if got := in.offset(loc, tok); got != 0 {
				t.Fatalf("offset moved to %d", got)
			}
		})
	}
	// The same bytes with a well-formed, right checksum are accepted.
	r := in.patch(loc, tok, 0, data, "Upload-Checksum", "sha1 "+sha1B64(data))
	if r.status != http.StatusNoContent || r.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("well-formed checksum: %v", r)
	}
}
