package confapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lectern/lectern/httpapi"
)

// TestMalformedSlideIDsAnswerInvalidID: slide ids are positive decimal numbers
// (core/metadata), and a path slide id of another form is 400 invalid_id on every
// slide route, as docs/api.md promises for every path id, with a message that names
// the slide id and no internal detail. Before, it was looked up and answered 404
// not_found with the metadata package's prefixes in the message.
func TestMalformedSlideIDsAnswerInvalidID(t *testing.T) {
	e := newEnv(t)
	presenter, attendee := e.conference("slides")
	e.must(201, e.do("POST", "/v1/conferences/slides/slidesets", presenter, "", map[string]string{"name": "deck"}))
	var sl struct{ ID string }
	e.must(201, e.do("POST", "/v1/conferences/slides/slidesets/aaa/slides", presenter, "", map[string]string{"kind": "whiteboard"})).json(t, &sl)

	const base = "/v1/conferences/slides/slidesets/aaa/slides/"
	routes := []struct {
		method, suffix, token string
		body                  any
	}{
		{"GET", "", attendee, nil},
		{"PUT", "", presenter, map[string]string{"kind": "text", "text": "x"}},
		{"DELETE", "", presenter, nil},
		{"POST", "/move", presenter, map[string]int{"position": 0}},
		{"POST", "/annotations", attendee, map[string]string{"data": "0a"}},
	}
	for _, id := range []string{"%2e%2e", "x.y", "..%5c", "0", "01", "-1", "1.0", "1234567890123456789"} {
		for _, r := range routes {
			t.Run(r.method+" "+id+r.suffix, func(t *testing.T) {
				got := e.do(r.method, base+id+r.suffix, r.token, "", r.body)
				if got.status != 400 || got.code() != "invalid_id" {
					t.Fatalf("%d %s, want 400 invalid_id: %s", got.status, got.code(), got.body)
				}
				var b httpapi.ErrorBody
				if err := json.Unmarshal(got.body, &b); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(b.Error.Message, "slide id") || strings.Contains(b.Error.Message, "metadata") {
					t.Fatalf("message %q: want one that names the slide id, without internal prefixes", b.Error.Message)
				}
			})
		}
	}
	// A well-formed id still reaches the slide, and an unknown one is 404.
	e.must(200, e.do("GET", base+sl.ID, attendee, "", nil))
	if got := e.do("GET", base+"999", attendee, "", nil); got.status != 404 || got.code() != "not_found" {
		t.Fatalf("an unknown slide: %d %s, want 404 not_found", got.status, got.code())
	}
}

// TestOrderSlideIDs: the slide ids in the body of PUT …/order are checked like those
// in the path (docs/api.md: an id "in the path or body" not of its form is 400
// invalid_id), before the set is read; a well-formed id the set does not hold is 404
// not_found. Before, ["../x"] was looked up and answered 404 with the metadata
// package's wording. The set's order is left as it was by each.
func TestOrderSlideIDs(t *testing.T) {
	e := newEnv(t)
	presenter, attendee := e.conference("order")
	e.must(201, e.do("POST", "/v1/conferences/order/slidesets", presenter, "", map[string]string{"name": "deck"}))
	const set = "/v1/conferences/order/slidesets/aaa"
	var a, b struct{ ID string }
	e.must(201, e.do("POST", set+"/slides", presenter, "", map[string]string{"kind": "whiteboard"})).json(t, &a)
	e.must(201, e.do("POST", set+"/slides", presenter, "", map[string]string{"kind": "whiteboard"})).json(t, &b)
	before := e.must(200, e.do("GET", set+"/xml", attendee, "", nil)).body

	tests := []struct {
		name   string
		slides []string
		status int
		code   string
	}{
		{"traversal", []string{b.ID, "../x"}, 400, "invalid_id"},
		{"letters", []string{"x", a.ID}, 400, "invalid_id"},
		{"zero", []string{b.ID, "0"}, 400, "invalid_id"},
		{"leading zero", []string{"0" + a.ID, b.ID}, 400, "invalid_id"},
		{"decimal point", []string{b.ID, a.ID + ".0"}, 400, "invalid_id"},
		{"backslash", []string{`..\`, a.ID}, 400, "invalid_id"},
		{"unknown slide", []string{b.ID, "999"}, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.do("PUT", set+"/order", presenter, "", map[string][]string{"slides": tt.slides})
			if got.status != tt.status || got.code() != tt.code {
				t.Fatalf("%d %s, want %d %s: %s", got.status, got.code(), tt.status, tt.code, got.body)
			}
			var eb httpapi.ErrorBody
			if err := json.Unmarshal(got.body, &eb); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(eb.Error.Message, "slide") || strings.Contains(eb.Error.Message, "metadata") {
				t.Fatalf("message %q: want one that names the slide, without internal prefixes", eb.Error.Message)
			}
		})
	}
	if after := e.must(200, e.do("GET", set+"/xml", attendee, "", nil)).body; string(after) != string(before) {
		t.Fatalf("a refused order changed the set:\n%s\n%s", before, after)
	}
	e.must(200, e.do("PUT", set+"/order", presenter, "", map[string][]string{"slides": {b.ID, a.ID}}))
}
