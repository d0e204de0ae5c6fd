package stream

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// TestCreationWithUploadErrorKeepsLocation: a creation-with-upload POST whose body is
// refused after the upload was created still answers the upload's Location (tusd
// dropped it from error answers), so that the client can resume it — here it does,
// and the upload completes — or delete it.
func TestCreationWithUploadErrorKeepsLocation(t *testing.T) {
	const size = 100_000
	data := textData(size)
	tests := []struct {
		name   string
		hdr    map[string]string
		fail   bool // the body's part put fails with a storage error
		status int
	}{
		{"wrong checksum", map[string]string{"Upload-Checksum": "sha1 " + sha1B64([]byte("other bytes"))}, false, StatusChecksumMismatch},
		{"storage unavailable", nil, true, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t, withStream(func(c *Config) { c.DirectMax = -1 }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			if tt.fail {
				var n atomic.Int64
				be.rec.mu.Lock()
				be.rec.failPut = func(key string) error {
					if strings.Contains(key, "/"+partPrefix) && n.Add(1) == 1 {
						return storage.NewError(storage.ErrUnavailable, "put", key, nil)
					}
					return nil
				}
				be.rec.mu.Unlock()
			}
			hdr := map[string]string{"Upload-Length": "100000", "Content-Type": "application/offset+octet-stream",
				"Upload-Metadata": meta("filename", "a.txt")}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, hdr, data)
			if r.status != tt.status {
				t.Fatalf("POST: %v, want %d", r, tt.status)
			}
			if !strings.HasPrefix(r.header.Get("Location"), in.srv.URL+"/v1/conferences/"+conf+"/uploads/") {
				t.Fatalf("the %d answer's Location is %q", r.status, r.header.Get("Location"))
			}
			loc := locationPath(t, r)
			off := in.offset(loc, tok)
			last := in.sendAll(loc, tok, data, off, size)
			in.checkContent(conf, resultFromHeaders(t, last), data)
		})
	}
}
