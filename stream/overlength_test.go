package stream

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/lectern/lectern/httpapi"
)

// chunkedPatch sends a PATCH without Content-Length (Transfer-Encoding: chunked): the
// body's reader hides its length from the client.
func (in *instance) chunkedPatch(path, token string, offset int64, data []byte, hdr ...string) reply {
	in.t.Helper()
	// Hidden behind a MultiReader, the body's length is unknown: sent chunked.
	return in.doReader("PATCH", path, token, patchHeaders(offset, hdr), io.MultiReader(bytes.NewReader(data)))
}

// TestChunkedPatchPastLength: a PATCH without Content-Length whose body goes on past
// Upload-Length. tusd cuts it at the length and answers 413; the upload must not be
// completed (and, for a handout, published) from the refused body, whatever its
// checksum says. The client can then send the right bytes and finish.
func TestChunkedPatchPastLength(t *testing.T) {
	const size = 100_000
	data := textData(size)
	body := append(append([]byte(nil), data[40_000:]...), "EXTRA BYTES PAST THE LENGTH"...)
	tests := []struct {
		name     string
		checksum string // of the body sent, or of the part of it within the length
	}{
		{"no checksum", ""},
		{"checksum of the whole body", "sha1 " + sha1B64(body)},
		{"checksum of the bytes within the length", "sha1 " + sha1B64(data[40_000:])},
	}
	forEachMode(t, func(t *testing.T, newBackend func(testing.TB) *backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				be := newBackend(t)
				in := be.start(t)
				conf := in.conference("conf-a")
				tok := in.token(httpapi.RolePresenter, conf, "alice")
				loc := in.create(conf, tok, size, meta("filename", "a.txt", "purpose", "handout"))
				in.sendAll(loc, tok, data[:40_000], 0, 40_000)
				var hdr []string
				if tt.checksum != "" {
					hdr = []string{"Upload-Checksum", tt.checksum}
				}
				if r := in.chunkedPatch(loc, tok, 40_000, body, hdr...); r.status != http.StatusRequestEntityTooLarge {
					t.Fatalf("PATCH past the length: %v, want 413", r)
				}
				if r := in.do("GET", loc+"/result", tok, nil, nil); r.status != http.StatusConflict {
					t.Fatalf("/result after the refused PATCH: %v, want 409 (not finished)", r)
				}
				if hs, err := in.engine.ListHandouts(t.Context(), conf); err != nil || len(hs) != 0 {
					t.Fatalf("handouts after the refused PATCH: %d, %v", len(hs), err)
				}
				if objs := be.objects(t, "content/"); len(objs) != 0 {
					t.Fatalf("content stored from the refused body: %s", objs[0].Key)
				}
				off := in.offset(loc, tok)
				if off < 40_000 || off >= size {
					t.Fatalf("offset %d after the refused PATCH", off)
				}
				r := in.sendAll(loc, tok, data, off, size)
				in.checkContent(conf, resultFromHeaders(t, r), data)
			})
		}
	})
}
