package confapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/confapi"
)

const pollSeed = `<poll-slide name="[ Poll 1 ]" recording-id="" createdby="sip:vw01@rtcdev.nttest.contoso.com [vw01]"> <question>What day is today?</question> <choice>MON</choice> <choice>TUE</choice> </poll-slide>`

func TestWalkthrough(t *testing.T) {
	e := newEnv(t)
	admin := e.token(httpapi.RoleAdmin, "")
	presenter, attendee := e.conference("town-hall")
	if r := e.do("POST", "/v1/conferences", admin, "", map[string]any{"id": "town-hall", "organizer": "sip:x@y"}); r.status != 409 || r.code() != "conflict" {
		t.Fatalf("duplicate conference: %d %s", r.status, r.body)
	}
	var list struct{ Conferences []conference.Info }
	e.must(200, e.do("GET", "/v1/conferences", admin, "", nil)).json(t, &list)
	if len(list.Conferences) != 1 {
		t.Fatalf("conferences: %+v", list)
	}

	var set confapi.SlideSetView
	e.must(201, e.do("POST", "/v1/conferences/town-hall/slidesets", presenter, "", map[string]string{"name": "Keynote"})).json(t, &set)
	if set.ID != "aaa" || set.Name != "Keynote" {
		t.Fatalf("slide set %+v", set)
	}
	base := "/v1/conferences/town-hall/slidesets/aaa"
	var web, poll confapi.SlideView
	e.must(201, e.do("POST", base+"/slides", presenter, "", map[string]any{"kind": "web", "name": "Site", "url": "https://example.org"})).json(t, &web)
	e.must(201, e.do("POST", base+"/slides", presenter, "application/xml", pollSeed)).json(t, &poll)
	if poll.Kind != "poll" || len(poll.Choices) != 2 || !strings.Contains(poll.XML, "recording-id") {
		t.Fatalf("poll from the seed XML: %+v", poll)
	}

	// Content as an upload would store it; the slide references it by name and key.
	data := make([]byte, 200_000)
	rand.Read(data)
	st, err := e.engine.StoreContent(context.Background(), "town-hall", conference.SlideContent, "png", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var snap confapi.SlideView
	e.must(201, e.do("POST", base+"/slides?position=0", presenter, "", map[string]any{"kind": "snapshot", "name": "Screen",
		"image": map[string]any{"name": st.Name, "key": st.Key.Hex(), "size": st.Size}})).json(t, &snap)

	// An attendee sees the set, with the content's URL and key, and decrypts it.
	e.must(200, e.do("GET", base, attendee, "", nil)).json(t, &set)
	if len(set.Slides) != 3 || set.Slides[0].ID != snap.ID || len(set.Slides[0].Content) != 1 {
		t.Fatalf("set as an attendee sees it: %+v", set)
	}
	cv := set.Slides[0].Content[0]
	cipher := e.must(200, e.do("GET", cv.URL, attendee, "", nil))
	if cipher.header.Get("Cache-Control") == "" || cipher.header.Get("ETag") == "" {
		t.Fatalf("content headers: %v", cipher.header)
	}
	key, err := encryption.ParseKey(cv.Key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := encryption.NewReader(bytes.NewReader(cipher.body), key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(plain, data) {
		t.Fatalf("decrypting the download: %v", err)
	}
	part := e.must(206, e.do("GET", "/v1/conferences/town-hall/content/"+st.Name+"/plain", attendee, "", nil, "Lectern-Key", cv.Key, "Range", "bytes=70000-70099"))
	if !bytes.Equal(part.body, data[70000:70100]) || part.header.Get("Content-Range") != "bytes 70000-70099/200000" {
		t.Fatalf("server-side decrypted range: %q", part.header.Get("Content-Range"))
	}
	other, _ := encryption.NewKey()
	if r := e.do("GET", "/v1/conferences/town-hall/content/"+st.Name+"/plain", attendee, "", nil, "Lectern-Key", other.Hex()); r.status != 400 {
		t.Fatalf("wrong key: %d %s", r.status, r.body)
	}

	// Annotations (attendees may annotate), moves, reorder, delete, XML round trip.
	e.must(201, e.do("POST", base+"/slides/"+snap.ID+"/annotations", attendee, "", map[string]any{"color": 255, "type": 1, "data": "0100000000"}))
	e.must(200, e.do("PUT", base+"/order", presenter, "", map[string]any{"slides": []string{web.ID, poll.ID, snap.ID}}))
	e.must(200, e.do("POST", base+"/slides/"+snap.ID+"/move", presenter, "", map[string]any{"position": 0}))
	e.must(204, e.do("DELETE", base+"/slides/"+web.ID, presenter, "", nil))
	xml := e.must(200, e.do("GET", base+"/xml", attendee, "", nil))
	if !strings.Contains(string(xml.body), "<ann ") || strings.Contains(string(xml.body), "web-slide") {
		t.Fatalf("XML after changes:\n%s", xml.body)
	}
	e.must(200, e.do("PUT", base+"/xml", presenter, "application/xml", xml.body))
	e.must(200, e.do("PATCH", base, presenter, "", map[string]string{"name": "Renamed"})).json(t, &set)
	if set.Name != "Renamed" || len(set.Slides) != 2 {
		t.Fatalf("after rename: %+v", set)
	}

	// Handouts.
	blob, err := e.engine.StoreContent(context.Background(), "town-hall", conference.HandoutContent, "", strings.NewReader("notes"), 5)
	if err != nil {
		t.Fatal(err)
	}
	var h confapi.HandoutView
	e.must(201, e.do("POST", "/v1/conferences/town-hall/handouts", presenter, "", map[string]any{"name": blob.Name, "key": blob.Key.Hex(), "size": 5, "filename": "notes.txt"})).json(t, &h)
	if h.ID != "aaa" || h.URL == "" || !strings.Contains(h.XML, `original_filename="notes.txt"`) {
		t.Fatalf("handout %+v", h)
	}
	e.must(200, e.do("GET", "/v1/conferences/town-hall/handouts/aaa", attendee, "", nil))
	var gone confapi.HandoutView
	e.must(200, e.do("DELETE", "/v1/conferences/town-hall/handouts/aaa", presenter, "", nil)).json(t, &gone)
	if !gone.Deleted || gone.Key != "" || gone.URL != "" || gone.XML != "" {
		t.Fatalf("deleted handout still shows its key or URL: %+v", gone)
	}
	var content struct{ Content []conference.ContentInfo }
	e.must(200, e.do("GET", "/v1/conferences/town-hall/content", presenter, "", nil)).json(t, &content)
	if len(content.Content) != 1 {
		t.Fatalf("content after the handout's blob was deleted: %+v", content)
	}
	e.must(200, e.do("POST", "/v1/conferences/town-hall/end", presenter, "", nil))
	if r := e.do("POST", "/v1/conferences/town-hall/slidesets", presenter, "", map[string]string{"name": "late"}); r.status != 409 {
		t.Fatalf("change after end: %d %s", r.status, r.body)
	}
	e.must(204, e.do("DELETE", "/v1/conferences/town-hall", admin, "", nil))
	e.must(404, e.do("GET", "/v1/conferences/town-hall", admin, "", nil))
}
