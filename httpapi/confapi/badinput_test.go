package confapi_test

import (
	"strings"
	"testing"
)

func TestBadInputGetsAClear4xxAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	presenter, attendee := e.conference("strict")
	e.must(201, e.do("POST", "/v1/conferences/strict/slidesets", presenter, "", map[string]string{"name": "Deck"}))
	base := "/v1/conferences/strict/slidesets/aaa"
	e.must(201, e.do("POST", base+"/slides", presenter, "", map[string]any{"kind": "text", "name": "t", "text": "hello"}))
	before := e.must(200, e.do("GET", base+"/xml", attendee, "", nil)).body

	tests := []struct {
		name, method, path, ctype string
		body                      any
		status                    int
		code                      string
	}{
		{"malformed JSON", "POST", base + "/slides", "application/json", `{"kind":`, 400, "invalid_json"},
		{"unknown JSON field", "POST", base + "/slides", "application/json", `{"kind":"web","url":"u","evil":1}`, 400, "invalid_json"},
		{"JSON of the wrong type", "POST", base + "/slides", "application/json", `{"kind":5}`, 400, "invalid_json"},
		{"unknown slide kind", "POST", base + "/slides", "application/json", `{"kind":"hologram"}`, 400, "bad_request"},
		{"wrong content type", "POST", base + "/slides", "text/plain", `kind=web`, 415, "unsupported_media_type"},
		{"malformed XML slide", "POST", base + "/slides", "application/xml", `<poll-slide name="x"`, 400, "invalid_xml"},
		{"XML slide nested too deep", "POST", base + "/slides", "application/xml", `<text-slide name="x">` + strings.Repeat("<a>", 2000) + strings.Repeat("</a>", 2000) + `</text-slide>`, 413, "too_large"},
		{"malformed slide set XML", "PUT", base + "/xml", "application/xml", `<slideset><text-slide></slideset>`, 400, "invalid_xml"},
		{"slide set XML over the limit", "PUT", base + "/xml", "application/xml", "<slideset>" + strings.Repeat("<!-- padding -->", 5000) + "</slideset>", 413, "too_large"},
		{"bad position", "POST", base + "/slides?position=-1", "application/json", `{"kind":"text"}`, 400, "bad_request"},
		{"annotation not hex", "POST", base + "/slides/1/annotations", "application/json", `{"data":"zz"}`, 400, "bad_request"},
		{"annotation on a missing slide", "POST", base + "/slides/999/annotations", "application/json", `{"data":"00"}`, 404, "not_found"},
		{"rename to an over-long name", "PATCH", base, "application/json", `{"name":"` + strings.Repeat("n", 65<<10) + `"}`, 400, "bad_request"},
		{"move out of range", "POST", base + "/slides/1/move", "application/json", `{"position":99}`, 400, "bad_request"},
		{"order missing a slide", "PUT", base + "/order", "application/json", `{"slides":[]}`, 400, "bad_request"},
		{"control character in a new slide", "POST", base + "/slides", "application/json", `{"kind":"text","name":"bell\u0007"}`, 400, "bad_request"},
		{"control character in a replaced slide", "PUT", base + "/slides/1", "application/json", `{"kind":"text","name":"bell\u0007"}`, 400, "bad_request"},
		{"unknown slide set", "GET", "/v1/conferences/strict/slidesets/zzz", "", nil, 404, "not_found"},
		{"slide set id with digits", "GET", "/v1/conferences/strict/slidesets/a1b", "", nil, 400, "invalid_id"},
		{"traversal in the set id", "GET", "/v1/conferences/strict/slidesets/..%2f..%2findex", "", nil, 400, ""},
		{"handout of content never stored", "POST", "/v1/conferences/strict/handouts", "application/json",
			`{"name":"0123456789abcdef0123456789abcdef.blb","key":"` + strings.Repeat("ab", 32) + `","size":1,"filename":"a.txt"}`, 400, "bad_request"},
		{"handout with a bad key", "POST", "/v1/conferences/strict/handouts", "application/json",
			`{"name":"0123456789abcdef0123456789abcdef.blb","key":"short","size":1,"filename":"a.txt"}`, 400, "bad_request"},
		{"snapshot of content never stored", "POST", base + "/slides", "application/json",
			`{"kind":"snapshot","image":{"name":"x0123456789abcdef0123456789abcdef.epng","key":"` + strings.Repeat("ab", 32) + `"}}`, 400, "bad_request"},
		{"content name traversal", "GET", "/v1/conferences/strict/content/..%2f..%2fconference.xml/plain", "", nil, 400, ""},
		{"decrypt without a key", "GET", "/v1/conferences/strict/content/x0123456789abcdef0123456789abcdef.epng/plain", "", nil, 400, "bad_request"},
		{"conference id with capitals", "GET", "/v1/conferences/STRICT", "", nil, 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := presenter
			r := e.do(tt.method, tt.path, tok, tt.ctype, tt.body)
			if r.status >= 500 {
				t.Fatalf("server error for bad input: %d %s", r.status, r.body)
			}
			if r.status != tt.status {
				if tt.code == "" && r.status >= 400 && r.status < 500 {
					return // any 4xx is right where the exact one is the router's choice
				}
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" && r.code() != tt.code {
				t.Fatalf("code %q, want %q: %s", r.code(), tt.code, r.body)
			}
		})
	}
	after := e.must(200, e.do("GET", base+"/xml", attendee, "", nil)).body
	if string(before) != string(after) {
		t.Fatalf("bad input changed the slide set:\n%s\n%s", before, after)
	}
}
