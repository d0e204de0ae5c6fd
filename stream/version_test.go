package stream

import (
	"net/http"
	"testing"

	"github.com/lectern/lectern/httpapi"
)

// TestUnsupportedTusResumable: a request without Tus-Resumable: 1.0.0 (but OPTIONS)
// answers 412 with the Tus-Version the server supports (tus 1.0: MUST), and changes
// nothing.
func TestUnsupportedTusResumable(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	loc := in.create(conf, tok, 10, meta("filename", "a.txt"))
	type req struct {
		method, path string
		hdr          map[string]string
		body         []byte
	}
	reqs := []req{
		{"POST", "/v1/conferences/" + conf + "/uploads", map[string]string{"Upload-Length": "5"}, nil},
		{"PATCH", loc, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, []byte("01234")},
		{"DELETE", loc, nil, nil},
		{"HEAD", loc, nil, nil},
	}
	for _, version := range []string{"-", "0.2.2"} {
		for _, rq := range reqs {
			t.Run(rq.method+" Tus-Resumable "+version, func(t *testing.T) {
				hdr := map[string]string{"Tus-Resumable": version}
				for k, v := range rq.hdr {
					hdr[k] = v
				}
				r := in.do(rq.method, rq.path, tok, hdr, rq.body)
				if r.status != http.StatusPreconditionFailed || r.header.Get("Tus-Version") != "1.0.0" {
					t.Fatalf("%v, Tus-Version %q; want 412 with Tus-Version 1.0.0", r, r.header.Get("Tus-Version"))
				}
			})
		}
	}
	if got := in.offset(loc, tok); got != 0 {
		t.Fatalf("offset %d after the refused requests", got)
	}
}
