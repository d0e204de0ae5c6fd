package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestCheckerJudgesWhatItClaims sends real answers of lecternd through checkers of
// docs/openapi.yaml with one declaration made wrong, and checks that each wrong
// declaration is caught, while the unchanged document passes the same answers. It
// pins the parts of the checker kin-openapi does not do by itself: the headers of a
// HEAD answer (ValidateResponse returns at once for HEAD), and the patterns of the
// path parameters of a served request (a response check never looks at them).
func TestCheckerJudgesWhatItClaims(t *testing.T) {
	e, _ := newE2E(t)
	loc := e.createUpload("checked.bin", "slide", 10)
	tus := []string{"Tus-Resumable", "1.0.0"}

	tests := []struct {
		name    string
		break_  func(t *testing.T, doc *openapi3.T)
		method  string
		path    string
		headers []string
		want    string // in the problem the broken document must draw
	}{
		{
			name: "a HEAD answer's header of another form",
			break_: func(t *testing.T, doc *openapi3.T) {
				h := doc.Paths.Find("/v1/conferences/{conf}/uploads/{upload}").Head.Responses.Status(200).Value.Headers["Upload-Offset"]
				h.Value.Schema = openapi3.NewStringSchema().WithPattern("^never$").NewRef()
			},
			method: "HEAD", path: loc, headers: tus, want: `"Upload-Offset"`,
		},
		{
			name: "a HEAD answer's required header it lacks",
			break_: func(t *testing.T, doc *openapi3.T) {
				hs := doc.Paths.Find("/v1/conferences/{conf}/uploads/{upload}").Head.Responses.Status(200).Value.Headers
				hs["Lectern-Never-Sent"] = &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{Required: true, Schema: openapi3.NewStringSchema().NewRef()}}}
			},
			method: "HEAD", path: loc, headers: tus, want: `"Lectern-Never-Sent" missing`,
		},
		{
			name: "an upload id pattern real ids do not match",
			break_: func(t *testing.T, doc *openapi3.T) {
				doc.Components.Parameters["Upload"].Value.Schema.Value.Pattern = "^[g-z]{32}$"
			},
			method: "HEAD", path: loc, headers: tus, want: "path parameter upload",
		},
		{
			name: "a conference id pattern real ids do not match",
			break_: func(t *testing.T, doc *openapi3.T) {
				doc.Components.Parameters["Conf"].Value.Schema.Value.Pattern = "^[0-9]+$"
			},
			method: "GET", path: "/v1/conferences/e2e", want: "path parameter conf",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			intact := checkerOf(t, nil)
			if got := sendThrough(t, e, intact, tt.method, tt.path, tt.headers); len(got) != 0 {
				t.Fatalf("the document as it is refuses the answer: %v", got)
			}
			broken := checkerOf(t, tt.break_)
			got := sendThrough(t, e, broken, tt.method, tt.path, tt.headers)
			if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Fatalf("the broken document drew %q, want a problem naming %s", got, tt.want)
			}
		})
	}
}

// checkerOf returns a checker of a fresh copy of docs/openapi.yaml changed by
// change (nil: unchanged); its problems are read by the test, not reported.
func checkerOf(t *testing.T, change func(*testing.T, *openapi3.T)) *specChecker {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(openapiFile)
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(t, doc)
	}
	router, errBody, err := checkerParts(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specChecker{router: router, errBody: errBody}
}

// sendThrough sends one request to e's lecternd through c and returns what c found.
func sendThrough(t *testing.T, e *e2e, c *specChecker, method, path string, headers []string) []string {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.presenter)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Transport: c.transport(client(t, e.dataDir).Transport)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d, want 200", method, path, resp.StatusCode)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.problems...)
}
