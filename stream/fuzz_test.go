package stream

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/lectern/lectern/httpapi"
)

// FuzzUploadHeaders sends a creation POST and a PATCH with arbitrary tus headers and
// body to a real (in-process, TLS) server: the answer is never a 5xx, a refused
// request changes nothing (no new upload, the offset stays), and an accepted PATCH
// moves the offset by exactly its body. `go test` runs the seeds;
// `go test -fuzz FuzzUploadHeaders ./stream/` explores.
func FuzzUploadHeaders(f *testing.F) {
	for _, s := range []struct {
		length, offset, meta, checksum, ctype string
		body                                  []byte
	}{
		{"10", "0", meta("filename", "a.pdf"), "", "application/offset+octet-stream", []byte("0123456789")},
		{"-1", "-1", "filename", "sha1 AAAA", "text/plain", nil},
		{"99999999999999999999", "18446744073709551616", "filename ===", "md5", "", []byte("x")},
		{"0", "0", "purpose " + "c2xpZGU=", "sha256 " + sha1B64([]byte("x")), "application/offset+octet-stream", []byte("x")},
		{" 5", "+0", "filename YQ==,filename YQ==", "SHA1 " + sha1B64([]byte("abc")), "application/offset+octet-stream; x=y", []byte("abc")},
		{"5", "3", "", "", "application/offset+octet-stream", []byte("ab")},
	} {
		f.Add(s.length, s.offset, s.meta, s.checksum, s.ctype, s.body)
	}
	be := newBackend(f)
	in := be.start(f)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")

	f.Fuzz(func(t *testing.T, length, offset, md, checksum, ctype string, body []byte) {
		for _, v := range []string{length, offset, md, checksum, ctype} {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Skip("not a value an HTTP client can send")
			}
		}
		in := *in
		in.t = t
		// A request the server never answers is a failure, not a stuck fuzzer.
		in.client = &http.Client{Transport: in.client.Transport, Timeout: 20 * time.Second}
		uploads := len(be.objects(t, "uploads/"+conf+"/"))

		// Creation with arbitrary Upload-Length and Upload-Metadata.
		r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{
			"Upload-Length": length, "Upload-Metadata": md}, nil)
		switch {
		case r.status >= 500:
			t.Fatalf("POST Upload-Length %q Upload-Metadata %q: %v", length, md, r)
		case r.status >= 400:
			if n := len(be.objects(t, "uploads/"+conf+"/")); n != uploads {
				t.Fatalf("a refused POST (%v) left %d objects behind", r, n-uploads)
			}
		}

		// A PATCH with arbitrary headers and body to a fresh upload of 10 bytes.
		loc := in.create(conf, tok, 10, meta("filename", "f.pdf"))
		r = in.do("PATCH", loc, tok, map[string]string{"Upload-Offset": offset,
			"Upload-Checksum": checksum, "Content-Type": ctype}, body)
		got := in.offset(loc, tok)
		switch {
		case r.status >= 500:
			t.Fatalf("PATCH Upload-Offset %q Upload-Checksum %q Content-Type %q: %v", offset, checksum, ctype, r)
		case r.status == http.StatusNoContent:
			if want := int64(len(body)); got != want {
				t.Fatalf("an accepted PATCH of %d bytes left the offset at %d", want, got)
			}
			if off, err := strconv.ParseInt(r.header.Get("Upload-Offset"), 10, 64); err != nil || off != got {
				t.Fatalf("the PATCH answered Upload-Offset %q, HEAD says %d", r.header.Get("Upload-Offset"), got)
			}
		case got != 0:
			t.Fatalf("a refused PATCH (%v) moved the offset to %d", r, got)
		}
		if r.status >= 400 && !strings.Contains(string(r.body), `"code"`) {
			t.Fatalf("a refusal without the JSON error shape: %v", r)
		}
	})
}
