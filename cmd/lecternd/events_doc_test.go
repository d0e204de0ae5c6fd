package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEventDataMatchesTheDocument reads a real event stream while the conference goes
// through every kind of event, and checks each data line against docs/openapi.yaml:
// a conference event is an Event whose data is its kind's payload schema, and the
// stream's own reset is a StreamNotice (before, the document said every data line was
// an Event and described no payload).
func TestEventDataMatchesTheDocument(t *testing.T) {
	e, _ := newE2E(t)
	schemas := loadOpenAPI(t).Components.Schemas
	payload := map[string]string{
		"content.ready":    "ContentReadyData",
		"slideset.created": "SlideSetEventData", "slideset.changed": "SlideSetEventData", "slideset.deleted": "SlideSetEventData",
		"handout.added": "HandoutEventData", "handout.deleted": "HandoutEventData",
		"conference.ended": "ConferenceEndedData",
	}
	check := func(kind, data string) {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("event %s: data %q is not JSON", kind, data)
		}
		if kind == "reset" || kind == "token.expired" {
			if err := schemas["StreamNotice"].Value.VisitJSON(v); err != nil {
				t.Errorf("event %s: %s is not a StreamNotice: %s", kind, data, firstLine(err))
			}
			return
		}
		if err := schemas["Event"].Value.VisitJSON(v); err != nil {
			t.Errorf("event %s: %s is not an Event: %s", kind, data, firstLine(err))
		}
		name, ok := payload[kind]
		if !ok {
			t.Errorf("event kind %s is not documented", kind)
			return
		}
		if err := schemas[name].Value.VisitJSON(v.(map[string]any)["data"]); err != nil {
			t.Errorf("event %s: its data in %s is not a %s: %s", kind, data, name, firstLine(err))
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	stream := func(query string) *bufio.Scanner {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/v1/conferences/e2e/events"+query, nil)
		req.Header.Set("Authorization", "Bearer "+e.presenter)
		resp, err := e.client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("events: %v %v", resp, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return bufio.NewScanner(resp.Body)
	}
	// next returns the next event's kind and data.
	next := func(sc *bufio.Scanner) (kind, data string) {
		t.Helper()
		for sc.Scan() {
			line := sc.Text()
			if k, ok := strings.CutPrefix(line, "event: "); ok {
				kind = k
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				data = d
			} else if line == "" && kind != "" {
				return kind, data
			}
		}
		t.Fatalf("the stream ended: %v", sc.Err())
		return "", ""
	}

	sc := stream("")
	e.call("POST", "/v1/conferences/e2e/slidesets", e.presenter, `{"name":"deck"}`, 201, nil)
	e.call("PATCH", "/v1/conferences/e2e/slidesets/aaa", e.presenter, `{"name":"deck 2"}`, 200, nil)
	e.patch(e.createUpload("a.png", "slide", 5), 0, []byte("slide"), 204)
	h := e.patch(e.createUpload("notes.txt", "handout", 5), 0, []byte("notes"), 204)
	e.call("DELETE", "/v1/conferences/e2e/handouts/"+h.Get("Lectern-Handout-Id"), e.presenter, "", 200, nil)
	e.call("DELETE", "/v1/conferences/e2e/slidesets/aaa", e.presenter, "", 204, nil)
	e.call("POST", "/v1/conferences/e2e/end", e.presenter, "", 200, nil)
	seen := map[string]bool{}
	for !seen["conference.ended"] {
		kind, data := next(sc)
		seen[kind] = true
		check(kind, data)
	}
	for kind := range payload {
		if !seen[kind] {
			t.Errorf("no %s event was seen", kind)
		}
	}
	// An id this server never issued: the stream starts with a reset.
	if kind, data := next(stream("?last_event_id=zz")); kind != "reset" {
		t.Errorf("a stream from an unknown id began with %s, want reset", kind)
	} else {
		check(kind, data)
	}
}
