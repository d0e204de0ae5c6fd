package stream

import (
	"net/http"
	"testing"

	"github.com/lectern/lectern/httpapi"
)

// TestContentHeadersOnlyOnCompletion: of the requests to a finished upload, only an
// empty PATCH at Upload-Offset = Upload-Length answers the content's URL and key
// again (docs/uploads.md, Completion); an identical resend of the final PATCH is 409
// (its offset is no longer the upload's), and HEAD and DELETE do not carry them.
func TestContentHeadersOnlyOnCompletion(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	loc := in.create(conf, tok, 3, meta("filename", "a.txt"))
	if r := in.patch(loc, tok, 0, []byte("abc")); r.status != http.StatusNoContent || r.header.Get(HeaderContentKey) == "" {
		t.Fatalf("completing PATCH: %v %v", r, r.header)
	}
	tests := []struct {
		name    string
		do      func() reply
		status  int
		withKey bool
	}{
		{"identical resend of the final PATCH", func() reply { return in.patch(loc, tok, 0, []byte("abc")) }, http.StatusConflict, false},
		{"empty PATCH at the upload's length", func() reply { return in.patch(loc, tok, 3, nil) }, http.StatusNoContent, true},
		{"HEAD", func() reply { return in.do("HEAD", loc, tok, nil, nil) }, http.StatusOK, false},
		{"DELETE", func() reply { return in.do("DELETE", loc, tok, nil, nil) }, http.StatusNoContent, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do()
			if r.status != tt.status {
				t.Fatalf("%v, want %d", r, tt.status)
			}
			for _, h := range []string{HeaderContentKey, HeaderContentURL, HeaderContentName} {
				if got := r.header.Get(h) != ""; got != tt.withKey {
					t.Errorf("%s present: %v, want %v", h, got, tt.withKey)
				}
			}
		})
	}
}
