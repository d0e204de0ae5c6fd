package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDocumentedErrorAnswers drives every route of a real lecternd into the error
// answers docs/openapi.yaml and docs/api.md list for it, and checks the status and
// the error code; the client of newE2E checks each answer against docs/openapi.yaml
// besides (the status listed for the operation, the ErrorBody shape and code enum).
// A route's answer that the document does not list fails the test at its end.
func TestDocumentedErrorAnswers(t *testing.T) {
	e, _ := newE2E(t)
	adm, pres := e.admin, e.presenter
	var minted struct{ Token string }
	e.call("POST", "/v1/tokens", adm, `{"role":"attendee","conference":"e2e","subject":"bob"}`, 201, &minted)
	att := minted.Token
	e.call("POST", "/v1/conferences", adm, `{"id":"c2","organizer":"sip:bob@example.com"}`, 201, nil)
	e.call("POST", "/v1/conferences/e2e/slidesets", pres, `{"name":"deck"}`, 201, nil)
	var slide struct{ ID string }
	e.call("POST", "/v1/conferences/e2e/slidesets/aaa/slides", pres, `{"kind":"whiteboard"}`, 201, &slide)

	// A stored content file, its name and its URL, and a handout.
	plain := strings.Repeat("0123456789", 1000)
	h := e.patch(e.createUpload("a.png", "slide", len(plain)), 0, []byte(plain), 204)
	name, url, key := h.Get("Lectern-Content-Name"), h.Get("Lectern-Content-Url"), h.Get("Lectern-Content-Key")
	missing := "x0123456789abcdef0123456789abcdef.epng"
	// Unfinished uploads: one to poll, one whose record is damaged (410), one whose
	// lease a crashed instance holds (423).
	open := e.createUpload("open.bin", "slide", 10)
	damaged := e.createUpload("damaged.bin", "slide", 10)
	locked := e.createUpload("locked.bin", "slide", 10)
	store := filepath.Join(e.dataDir, "store", "uploads", "e2e")
	if err := os.WriteFile(filepath.Join(store, filepath.Base(damaged), "info"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	lease := fmt.Sprintf("%d 0123456789abcdef01234567", time.Now().Add(time.Hour).UnixMilli())
	if err := os.WriteFile(filepath.Join(store, filepath.Base(locked), "lock"), []byte(lease), 0o600); err != nil {
		t.Fatal(err)
	}
	const noUpload = "/v1/conferences/e2e/uploads/0123456789abcdef0123456789abcdef"

	const (
		J   = "application/json"
		X   = "application/xml"
		O   = "application/offset+octet-stream"
		bad = "/v1/conferences/BAD_ID"
	)
	tus := []string{"Tus-Resumable", "1.0.0"}
	big := strings.Repeat("a", 2<<20) // over the server-wide body cap (1 MiB)
	with := func(h ...string) []string { return append(append([]string(nil), tus...), h...) }
	tests := []struct {
		name         string
		method, path string
		token, ctype string
		body         string
		headers      []string
		status       int
		code         string // "" for an answer without a body (HEAD)
	}{
		// auth
		{"whoami without a token", "GET", "/v1/token", "", "", "", nil, 401, "unauthenticated"},
		{"whoami with a malformed token", "GET", "/v1/token", "abc.def.ghi", "", "", nil, 401, "unauthenticated"},
		{"mint with bad JSON", "POST", "/v1/tokens", adm, J, `{"role":`, nil, 400, "invalid_json"},
		{"mint with an unknown field", "POST", "/v1/tokens", adm, J, `{"role":"attendee","conference":"e2e","x":1}`, nil, 400, "invalid_json"},
		{"mint by an attendee", "POST", "/v1/tokens", att, J, `{"role":"presenter","conference":"e2e"}`, nil, 403, "forbidden"},
		{"mint as text/plain", "POST", "/v1/tokens", adm, "text/plain", `{"role":"attendee","conference":"e2e"}`, nil, 415, "unsupported_media_type"},
		{"mint over the body cap", "POST", "/v1/tokens", adm, J, `{"subject":"` + big + `"}`, nil, 413, "too_large"},
		// conferences
		{"create a conference twice", "POST", "/v1/conferences", adm, J, `{"id":"c2","organizer":"sip:bob@example.com"}`, nil, 409, "conflict"},
		{"create a conference with a bad id", "POST", "/v1/conferences", adm, J, `{"id":"Bad_ID","organizer":"sip:bob@example.com"}`, nil, 400, "invalid_id"},
		{"create a conference as presenter", "POST", "/v1/conferences", pres, J, `{"organizer":"sip:bob@example.com"}`, nil, 403, "forbidden"},
		{"create a conference as text/plain", "POST", "/v1/conferences", adm, "text/plain", `{"id":"c3","organizer":"sip:bob@example.com"}`, nil, 415, "unsupported_media_type"},
		{"list conferences as presenter", "GET", "/v1/conferences", pres, "", "", nil, 403, "forbidden"},
		{"get an unknown conference", "GET", "/v1/conferences/nope", adm, "", "", nil, 404, "not_found"},
		{"get a conference by a bad id", "GET", bad, adm, "", "", nil, 400, "invalid_id"},
		{"get another conference", "GET", "/v1/conferences/c2", pres, "", "", nil, 403, "forbidden"},
		{"put a conference", "PUT", "/v1/conferences/e2e", adm, "", "", nil, 405, "method_not_allowed"},
		{"an unknown route", "GET", "/v1/conferences/e2e/nothing", adm, "", "", nil, 404, "not_found"},
		{"delete an unknown conference", "DELETE", "/v1/conferences/nope", adm, "", "", nil, 404, "not_found"},
		{"delete a conference by a bad id", "DELETE", bad, adm, "", "", nil, 400, "invalid_id"},
		{"end a conference by a bad id", "POST", bad + "/end", adm, "", "", nil, 400, "invalid_id"},
		{"end an unknown conference", "POST", "/v1/conferences/nope/end", adm, "", "", nil, 404, "not_found"},
		{"events without a token", "GET", "/v1/conferences/e2e/events", "", "", "", nil, 401, "unauthenticated"},
		{"events of an unknown conference", "GET", "/v1/conferences/nope/events", adm, "", "", nil, 404, "not_found"},
		{"events of a bad id", "GET", bad + "/events", adm, "", "", nil, 400, "invalid_id"},
		// slide sets
		{"list slide sets of a bad id", "GET", bad + "/slidesets", adm, "", "", nil, 400, "invalid_id"},
		{"create a slide set as attendee", "POST", "/v1/conferences/e2e/slidesets", att, J, `{"name":"x"}`, nil, 403, "forbidden"},
		{"create a slide set as text/plain", "POST", "/v1/conferences/e2e/slidesets", pres, "text/plain", `{"name":"x"}`, nil, 415, "unsupported_media_type"},
		{"get an unknown slide set", "GET", "/v1/conferences/e2e/slidesets/zzz", att, "", "", nil, 404, "not_found"},
		{"get a slide set by a bad id", "GET", "/v1/conferences/e2e/slidesets/A1", att, "", "", nil, 400, "invalid_id"},
		{"rename a slide set as attendee", "PATCH", "/v1/conferences/e2e/slidesets/aaa", att, J, `{"name":"x"}`, nil, 403, "forbidden"},
		{"rename a slide set as text/plain", "PATCH", "/v1/conferences/e2e/slidesets/aaa", pres, "text/plain", `{"name":"x"}`, nil, 415, "unsupported_media_type"},
		{"rename a slide set over the body cap", "PATCH", "/v1/conferences/e2e/slidesets/aaa", pres, J, `{"name":"` + big + `"}`, nil, 413, "too_large"},
		{"delete a slide set by a bad id", "DELETE", "/v1/conferences/e2e/slidesets/A1", pres, "", "", nil, 400, "invalid_id"},
		{"delete a slide set of a bad conference id", "DELETE", bad + "/slidesets/aaa", adm, "", "", nil, 400, "invalid_id"},
		{"get the XML of a bad slide set id", "GET", "/v1/conferences/e2e/slidesets/A1/xml", att, "", "", nil, 400, "invalid_id"},
		{"get the XML in a bad conference id", "GET", bad + "/slidesets/aaa/xml", adm, "", "", nil, 400, "invalid_id"},
		{"put XML as JSON", "PUT", "/v1/conferences/e2e/slidesets/aaa/xml", pres, J, `<slideset/>`, nil, 415, "unsupported_media_type"},
		{"put malformed XML", "PUT", "/v1/conferences/e2e/slidesets/aaa/xml", pres, X, `<nope`, nil, 400, "invalid_xml"},
		{"reorder a bad slide set id", "PUT", "/v1/conferences/e2e/slidesets/A1/order", pres, J, `{"slides":[]}`, nil, 400, "invalid_id"},
		{"reorder with an unknown slide", "PUT", "/v1/conferences/e2e/slidesets/aaa/order", pres, J, `{"slides":["9999"]}`, nil, 404, "not_found"},
		{"reorder with a malformed slide id", "PUT", "/v1/conferences/e2e/slidesets/aaa/order", pres, J, `{"slides":["../x"]}`, nil, 400, "invalid_id"},
		{"reorder as text/plain", "PUT", "/v1/conferences/e2e/slidesets/aaa/order", pres, "text/plain", `{"slides":["` + slide.ID + `"]}`, nil, 415, "unsupported_media_type"},
		{"reorder over the body cap", "PUT", "/v1/conferences/e2e/slidesets/aaa/order", pres, J, `{"slides":["` + big + `"]}`, nil, 413, "too_large"},
		{"add a slide of an unknown kind", "POST", "/v1/conferences/e2e/slidesets/aaa/slides", pres, J, `{"kind":"nope"}`, nil, 400, "bad_request"},
		{"add a slide as text/plain", "POST", "/v1/conferences/e2e/slidesets/aaa/slides", pres, "text/plain", `{"kind":"text"}`, nil, 415, "unsupported_media_type"},
		{"add a slide at position -1", "POST", "/v1/conferences/e2e/slidesets/aaa/slides?position=-1", pres, J, `{"kind":"text"}`, nil, 400, "bad_request"},
		{"get an unknown slide", "GET", "/v1/conferences/e2e/slidesets/aaa/slides/9999", att, "", "", nil, 404, "not_found"},
		{"get a slide in a bad conference id", "GET", bad + "/slidesets/aaa/slides/1", adm, "", "", nil, 400, "invalid_id"},
		{"delete a slide in a bad conference id", "DELETE", bad + "/slidesets/aaa/slides/1", adm, "", "", nil, 400, "invalid_id"},
		{"get a slide by a bad id", "GET", "/v1/conferences/e2e/slidesets/aaa/slides/x.y", att, "", "", nil, 400, "invalid_id"},
		{"delete a slide by a dotted id", "DELETE", "/v1/conferences/e2e/slidesets/aaa/slides/%2e%2e", pres, "", "", nil, 400, "invalid_id"},
		{"move a slide of a bad id", "POST", "/v1/conferences/e2e/slidesets/aaa/slides/..%5c/move", pres, J, `{"position":0}`, nil, 400, "invalid_id"},
		{"move a slide to -1", "POST", "/v1/conferences/e2e/slidesets/aaa/slides/" + slide.ID + "/move", pres, J, `{"position":-1}`, nil, 400, "bad_request"},
		{"move a slide as text/plain", "POST", "/v1/conferences/e2e/slidesets/aaa/slides/" + slide.ID + "/move", pres, "text/plain", `{"position":0}`, nil, 415, "unsupported_media_type"},
		{"move a slide over the body cap", "POST", "/v1/conferences/e2e/slidesets/aaa/slides/" + slide.ID + "/move", pres, J, `{"position":0,"x":"` + big + `"}`, nil, 413, "too_large"},
		{"annotate with bad hex", "POST", "/v1/conferences/e2e/slidesets/aaa/slides/" + slide.ID + "/annotations", att, J, `{"data":"zz"}`, nil, 400, "bad_request"},
		{"annotate as text/plain", "POST", "/v1/conferences/e2e/slidesets/aaa/slides/" + slide.ID + "/annotations", att, "text/plain", `{"data":"00"}`, nil, 415, "unsupported_media_type"},
		// uploads
		{"create an upload without Tus-Resumable", "POST", "/v1/conferences/e2e/uploads", pres, "", "", []string{"Upload-Length", "10"}, 412, "precondition_failed"},
		{"create an upload as attendee", "POST", "/v1/conferences/e2e/uploads", att, "", "", with("Upload-Length", "10"), 403, "forbidden"},
		{"create an upload of a bad length", "POST", "/v1/conferences/e2e/uploads", pres, "", "", with("Upload-Length", "abc"), 400, "bad_request"},
		{"create an upload too large", "POST", "/v1/conferences/e2e/uploads", pres, "", "", with("Upload-Length", "99999999999"), 413, "too_large"},
		{"create an upload in an unknown conference", "POST", "/v1/conferences/nope/uploads", adm, "", "", with("Upload-Length", "10"), 404, "not_found"},
		{"offset of an unknown upload", "HEAD", noUpload, pres, "", "", tus, 404, ""},
		{"offset without Tus-Resumable", "HEAD", open, pres, "", "", nil, 412, ""},
		{"offset of a bad upload id", "HEAD", "/v1/conferences/e2e/uploads/nothex", pres, "", "", tus, 400, ""},
		{"offset of a damaged upload", "HEAD", damaged, pres, "", "", tus, 410, ""},
		{"capabilities of a bad upload id", "OPTIONS", "/v1/conferences/e2e/uploads/nothex", "", "", "", tus, 400, "invalid_id"},
		{"capabilities in a bad conference id", "OPTIONS", bad + "/uploads", "", "", "", tus, 400, "invalid_id"},
		{"append as octet-stream", "PATCH", open, pres, "application/octet-stream", "0123456789", with("Upload-Offset", "0"), 415, "unsupported_media_type"},
		{"append at a wrong offset", "PATCH", open, pres, O, "0123456789", with("Upload-Offset", "5"), 409, "conflict"},
		{"append with a wrong checksum", "PATCH", open, pres, O, "0123456789", with("Upload-Offset", "0", "Upload-Checksum", "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="), 460, "checksum_mismatch"},
		{"append with an unknown checksum algorithm", "PATCH", open, pres, O, "0123456789", with("Upload-Offset", "0", "Upload-Checksum", "crc32 AAAA"), 400, "bad_request"},
		{"append to a bad upload id", "PATCH", "/v1/conferences/e2e/uploads/nothex", pres, O, "x", with("Upload-Offset", "0"), 400, "invalid_id"},
		{"append in a bad conference id", "PATCH", bad + "/uploads/0123456789abcdef0123456789abcdef", adm, O, "x", with("Upload-Offset", "0"), 400, "invalid_id"},
		{"append to a damaged upload", "PATCH", damaged, pres, O, "0123456789", with("Upload-Offset", "0"), 410, "gone"},
		{"append to an upload a crashed instance holds", "PATCH", locked, pres, O, "0123456789", with("Upload-Offset", "0"), 423, "locked"},
		{"terminate without Tus-Resumable", "DELETE", open, pres, "", "", nil, 412, "precondition_failed"},
		{"terminate an unknown upload", "DELETE", noUpload, pres, "", "", tus, 404, "not_found"},
		{"terminate a bad upload id", "DELETE", "/v1/conferences/e2e/uploads/nothex", pres, "", "", tus, 400, "invalid_id"},
		{"terminate in a bad conference id", "DELETE", bad + "/uploads/0123456789abcdef0123456789abcdef", adm, "", "", tus, 400, "invalid_id"},
		{"result of an unfinished upload", "GET", open + "/result", pres, "", "", nil, 409, "conflict"},
		{"result as attendee", "GET", open + "/result", att, "", "", nil, 403, "forbidden"},
		{"result of a bad upload id", "GET", "/v1/conferences/e2e/uploads/nothex/result", pres, "", "", nil, 400, "invalid_id"},
		{"result in a bad conference id", "GET", bad + "/uploads/0123456789abcdef0123456789abcdef/result", adm, "", "", nil, 400, "invalid_id"},
		{"result of a damaged upload", "GET", damaged + "/result", pres, "", "", nil, 410, "gone"},
		// handouts
		{"list handouts of a bad id", "GET", bad + "/handouts", adm, "", "", nil, 400, "invalid_id"},
		{"add a handout as text/plain", "POST", "/v1/conferences/e2e/handouts", pres, "text/plain", `{}`, nil, 415, "unsupported_media_type"},
		{"add a handout of an unknown blob", "POST", "/v1/conferences/e2e/handouts", pres, J, `{"name":"0123456789abcdef0123456789abcdef.blb","key":"` + strings.Repeat("ab", 32) + `","size":5,"filename":"n.txt"}`, nil, 400, "bad_request"},
		{"get an unknown handout", "GET", "/v1/conferences/e2e/handouts/zzz", att, "", "", nil, 404, "not_found"},
		{"get a handout by a bad id", "GET", "/v1/conferences/e2e/handouts/A1", att, "", "", nil, 400, "invalid_id"},
		{"get a handout in a bad conference id", "GET", bad + "/handouts/aaa", adm, "", "", nil, 400, "invalid_id"},
		{"delete a handout by a bad id", "DELETE", "/v1/conferences/e2e/handouts/A1", pres, "", "", nil, 400, "invalid_id"},
		{"delete a handout in a bad conference id", "DELETE", bad + "/handouts/aaa", adm, "", "", nil, 400, "invalid_id"},
		// conference content
		{"list content of a bad id", "GET", bad + "/content", adm, "", "", nil, 400, "invalid_id"},
		{"list content as attendee", "GET", "/v1/conferences/e2e/content", att, "", "", nil, 403, "forbidden"},
		{"delete content by a bad name", "DELETE", "/v1/conferences/e2e/content/nope", pres, "", "", nil, 400, "invalid_id"},
		{"delete unknown content", "DELETE", "/v1/conferences/e2e/content/" + missing, pres, "", "", nil, 404, "not_found"},
		{"decrypt without a key", "GET", "/v1/conferences/e2e/content/" + name + "/plain", att, "", "", nil, 400, "bad_request"},
		{"decrypt with a wrong key", "GET", "/v1/conferences/e2e/content/" + name + "/plain", att, "", "", []string{"Lectern-Key", strings.Repeat("00", 32)}, 400, "bad_request"},
		{"decrypt a bad name", "GET", "/v1/conferences/e2e/content/evil.txt/plain", att, "", "", []string{"Lectern-Key", key}, 400, "invalid_id"},
		{"decrypt past the end", "GET", "/v1/conferences/e2e/content/" + name + "/plain", att, "", "", []string{"Lectern-Key", key, "Range", "bytes=999999-"}, 416, "range_not_satisfiable"},
		{"sign for 0 s", "POST", "/v1/conferences/e2e/content/" + name + "/signed-url", att, J, `{"ttl_seconds":0}`, nil, 400, "bad_request"},
		{"sign unknown content", "POST", "/v1/conferences/e2e/content/" + missing + "/signed-url", att, J, `{}`, nil, 404, "not_found"},
		{"sign a bad name", "POST", "/v1/conferences/e2e/content/nope/signed-url", att, J, `{}`, nil, 400, "invalid_id"},
		// content
		{"download without a token", "GET", url, "", "", "", nil, 401, "unauthenticated"},
		{"download a bad name", "GET", "/v1/content/" + strings.Repeat("a", 32) + "/e2e/evil.txt", att, "", "", nil, 400, "invalid_id"},
		{"download of another conference", "GET", strings.Replace(url, "/e2e/", "/c2/", 1), att, "", "", nil, 403, "forbidden"},
		{"download unknown content", "GET", strings.Replace(url, name, missing, 1), att, "", "", nil, 404, "not_found"},
		{"download If-Match another version", "GET", url, att, "", "", []string{"If-Match", `"other"`}, 412, "precondition_failed"},
		{"download past the end", "GET", url, att, "", "", []string{"Range", "bytes=99999999-"}, 416, "range_not_satisfiable"},
		{"post to a download", "POST", url, att, "", "", nil, 405, "method_not_allowed"},
		{"headers of a bad name", "HEAD", "/v1/content/" + strings.Repeat("a", 32) + "/e2e/evil.txt", att, "", "", nil, 400, ""},
		{"headers If-Match another version", "HEAD", url, att, "", "", []string{"If-Match", `"other"`}, 412, ""},
		{"headers past the end", "HEAD", url, att, "", "", []string{"Range", "bytes=99999999-"}, 416, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.send(tt.method, tt.path, tt.token, tt.ctype, []byte(tt.body), tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: %d, want %d: %.300s", tt.method, tt.path, resp.StatusCode, tt.status, body)
			}
			if tt.code == "" {
				return
			}
			var eb struct{ Error struct{ Code string } }
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != tt.code {
				t.Fatalf("%s %s: body %.300s, want the code %s", tt.method, tt.path, body, tt.code)
			}
		})
	}
}
