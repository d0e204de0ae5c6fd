package confapi_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi/confapi"
)

// TestKeyedAnswersAreNotStored: every answer that carries a content key (a slide
// set, a slide, its XML, a handout, the handout list) says Cache-Control: no-store, as
// the upload result and the decrypted content do, so that no cache between the
// client and the server (a proxy, the browser's disk cache) keeps a key.
func TestKeyedAnswersAreNotStored(t *testing.T) {
	e := newEnv(t)
	presenter, attendee := e.conference("keys")
	ctx := context.Background()
	img, err := e.engine.StoreContent(ctx, "keys", conference.SlideContent, "png", bytes.NewReader(make([]byte, 1000)), 1000)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := e.engine.StoreContent(ctx, "keys", conference.HandoutContent, "", strings.NewReader("notes"), 5)
	if err != nil {
		t.Fatal(err)
	}
	image := map[string]any{"name": img.Name, "key": img.Key.Hex(), "size": img.Size}
	base := "/v1/conferences/keys/slidesets/aaa"

	type step struct {
		name, method, path, token, contentType string
		body                                   any
		status                                 int
		keyless                                bool // a new, empty set: no key yet, no-store all the same
	}
	steps := []step{
		{"create set", "POST", "/v1/conferences/keys/slidesets", presenter, "", map[string]string{"name": "Deck"}, 201, true},
		{"add slide", "POST", base + "/slides", presenter, "", map[string]any{"kind": "snapshot", "name": "Screen", "image": image}, 201, false},
		{"get set", "GET", base, attendee, "", nil, 200, false},
		{"get set as XML", "GET", base + "/xml", attendee, "", nil, 200, false},
		{"get slide", "GET", base + "/slides/{slide}", attendee, "", nil, 200, false},
		{"replace slide", "PUT", base + "/slides/{slide}", presenter, "", map[string]any{"kind": "snapshot", "name": "Screen 2", "image": image}, 200, false},
		{"annotate", "POST", base + "/slides/{slide}/annotations", attendee, "", map[string]any{"color": 255, "type": 1, "data": "0100000000"}, 201, false},
		{"rename set", "PATCH", base, presenter, "", map[string]string{"name": "Renamed"}, 200, false},
		{"add handout", "POST", "/v1/conferences/keys/handouts", presenter, "", map[string]any{"name": blob.Name, "key": blob.Key.Hex(), "size": 5, "filename": "notes.txt"}, 201, false},
		{"get handout", "GET", "/v1/conferences/keys/handouts/aaa", attendee, "", nil, 200, false},
		{"list handouts", "GET", "/v1/conferences/keys/handouts", attendee, "", nil, 200, false},
	}
	var setXML []byte
	slide := "" // the id of the slide added
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.do(s.method, strings.ReplaceAll(s.path, "{slide}", slide), s.token, s.contentType, s.body)
			if r.status != s.status {
				t.Fatalf("status %d, want %d: %s", r.status, s.status, r.body)
			}
			switch s.name {
			case "add slide":
				var v confapi.SlideView
				r.json(t, &v)
				slide = v.ID
			case "get set as XML":
				setXML = r.body
			}
			// The answer does carry a key: else this test would prove nothing.
			if !s.keyless && !strings.Contains(string(r.body), img.Key.Hex()) && !strings.Contains(string(r.body), blob.Key.Hex()) {
				t.Fatalf("the answer holds no content key: %s", r.body)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Fatalf("Cache-Control %q, want no-store", got)
			}
		})
	}
	t.Run("replace set XML", func(t *testing.T) {
		var set confapi.SlideSetView
		r := e.must(200, e.do("PUT", base+"/xml", presenter, "application/xml", setXML))
		r.json(t, &set)
		if len(set.Slides) != 1 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q, set %+v", r.header.Get("Cache-Control"), set)
		}
	})
	// A listing of summaries holds no key and may be cached privately as before.
	if r := e.must(200, e.do("GET", "/v1/conferences/keys/slidesets", attendee, "", nil)); strings.Contains(string(r.body), img.Key.Hex()) {
		t.Fatalf("the slide set list shows a key: %s", r.body)
	}
}
