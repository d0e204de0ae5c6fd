package confapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi/confapi"
)

// TestXMLBodyLimitIsTheRoutesOwn pins that the XML routes take bodies up to
// MaxXMLBody, over the server-wide 1 MiB cap that wraps every body first: a set that
// grew past 1 MiB through the API can be PUT back as it was read.
func TestXMLBodyLimitIsTheRoutesOwn(t *testing.T) {
	const maxXML = 3 << 20
	e := newEnvWith(t, envOptions{maxXMLBody: maxXML})
	presenter, _ := e.conference("big")
	e.must(201, e.do("POST", "/v1/conferences/big/slidesets", presenter, "", map[string]string{"name": "Deck"}))
	st, err := e.engine.StoreContent(context.Background(), "big", conference.SlideContent, "png", bytes.NewReader([]byte("img")), 3)
	if err != nil {
		t.Fatal(err)
	}
	base := "/v1/conferences/big/slidesets/aaa"
	e.must(201, e.do("POST", base+"/slides", presenter, "", map[string]any{"kind": "whiteboard", "name": "wb",
		"image": map[string]any{"name": st.Name, "key": st.Key.Hex()}}))
	stroke := make([]byte, confapi.MaxAnnotationData)
	for range 20 {
		rand.Read(stroke)
		e.must(201, e.do("POST", base+"/slides/1/annotations", presenter, "", map[string]any{"data": hex.EncodeToString(stroke)}))
	}
	own := e.must(200, e.do("GET", base+"/xml", presenter, "", nil)).body
	if len(own) <= 2<<20 {
		t.Fatalf("the set's XML is %d bytes; the test needs it well over the 1 MiB server-wide cap", len(own))
	}
	// A slide of the set, sent alone as XML, is over 1 MiB too.
	oneSlide := own[bytes.Index(own, []byte("<image-slide")):]
	oneSlide = oneSlide[:bytes.Index(oneSlide, []byte("</image-slide>"))+len("</image-slide>")]
	over := "<slideset>" + strings.Repeat("<!-- padding -->", maxXML/16) + "</slideset>"

	tests := []struct {
		name, method, path, ctype string
		body                      []byte
		chunked                   bool
		status                    int
		code                      string
	}{
		{"the set's own XML", "PUT", base + "/xml", "application/xml", own, false, 200, ""},
		{"the set's own XML, chunked", "PUT", base + "/xml", "text/xml; charset=utf-8", own, true, 200, ""},
		{"one big slide as XML", "POST", base + "/slides", "application/xml", oneSlide, false, 201, ""},
		{"one big slide replaced as XML", "PUT", base + "/slides/1", "application/xml", oneSlide, true, 200, ""},
		{"XML over MaxXMLBody", "PUT", base + "/xml", "application/xml", []byte(over), false, 413, "too_large"},
		{"XML over MaxXMLBody, chunked", "PUT", base + "/xml", "application/xml", []byte(over), true, 413, "too_large"},
		{"slide XML over MaxXMLBody", "POST", base + "/slides", "application/xml", []byte(over), true, 413, "too_large"},
		// JSON on the same route keeps the server-wide cap.
		{"JSON slide over the server-wide cap", "POST", base + "/slides", "application/json",
			[]byte(`{"kind":"text","name":"t","text":"` + strings.Repeat("x", 1<<20) + `"}`), true, 413, "too_large"},
	}
	// A declared length over the cap is refused before the body is read, and the
	// connection closed: the client waits for 100 Continue instead of writing into a
	// closed connection (the bound is for a broken server, not a timed assertion).
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = 30 * time.Second
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // no length known: sent chunked
			}
			req, err := http.NewRequest(tt.method, e.srv.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+presenter)
			req.Header.Set("Content-Type", tt.ctype)
			req.Header.Set("Expect", "100-continue")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			r := reply{status: resp.StatusCode, body: data}
			if r.status != tt.status || (tt.code != "" && r.code() != tt.code) {
				t.Fatalf("%d bytes: %d %s, want %d %s", len(tt.body), r.status, r.code(), tt.status, tt.code)
			}
		})
	}
	if got := e.must(200, e.do("GET", base+"/xml", presenter, "", nil)).body; len(got) < len(own) {
		t.Fatalf("the set shrank from %d to %d bytes", len(own), len(got))
	}
}
