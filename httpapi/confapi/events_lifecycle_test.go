package confapi_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/httpapi"
)

// stallingEvent is larger than all the buffers between a handler and a client that
// does not read (stuckEnv's, at a few KiB each way), yet smaller than bigEvent so that
// the client reading it again does not take long.
var stallingEvent = strings.Repeat("x", 256<<10)

// streamBound only keeps a broken server from hanging a test; it is no timing.
const streamBound = 30 * time.Second

// readSSE parses Server-Sent Events from r onto the returned channel, closed at the
// end of r. Its buffer takes stallingEvent.
func readSSE(r io.ReadCloser) <-chan sseEvent {
	out := make(chan sseEvent, 128)
	go func() {
		defer r.Close()
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 2*len(stallingEvent))
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.kind != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return out
}

// openEvents opens GET path (an events URL, with its query) with token and the
// headers given in pairs, and returns its events; the stream must open with 200.
func (e *env) openEvents(t *testing.T, path, token string, hdr ...string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return readSSE(resp.Body)
}

// streamEnds waits for the stream's end, failing on any event before it.
func streamEnds(t *testing.T, ch <-chan sseEvent, why string) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("%s: the stream goes on with %+v", why, ev)
		}
	case <-time.After(streamBound):
		t.Fatalf("%s: the stream stays open", why)
	}
}

// TestEventsResumeByQueryParameter: a browser's EventSource cannot set headers, so
// a client resuming by hand passes its last event id as ?last_event_id=. Without the
// fallback it would silently miss what happened while it was away; an id the server
// cannot resume from must still give a reset. The header, when both are sent, is
// what the browser itself sent last and wins.
func TestEventsResumeByQueryParameter(t *testing.T) {
	e := newEnv(t)
	presenter, attendee := e.conference("live")
	live := e.subscribe(t, attendee, "")
	e.must(201, e.do("POST", "/v1/conferences/live/slidesets", presenter, "", map[string]string{"name": "Deck"}))
	first := next(t, live)
	if first.kind != "slideset.created" {
		t.Fatalf("first event: %+v", first)
	}
	e.must(200, e.do("PATCH", "/v1/conferences/live/slidesets/aaa", presenter, "", map[string]string{"name": "Renamed"}))
	changed := next(t, live)

	base := "/v1/conferences/live/events"
	cases := []struct {
		name  string
		path  string
		hdr   []string
		want  string // the first event's kind
		wantI string // and its id, when set
	}{
		{"query parameter replays", base + "?last_event_id=" + url.QueryEscape(first.id), nil, "slideset.changed", changed.id},
		{"unknown id in the query gets a reset", base + "?last_event_id=999999", nil, "reset", ""},
		{"the header wins over the query", base + "?last_event_id=999999", []string{"Last-Event-ID", first.id}, "slideset.changed", changed.id},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := e.openEvents(t, tc.path, attendee, tc.hdr...)
			// An event after the stream opened: a stream that replayed nothing
			// shows it first instead of hanging.
			e.hub.Publish("live", events.Event{Kind: events.SlideSetChanged, Data: map[string]string{"marker": tc.name}})
			ev := next(t, ch)
			if ev.kind != tc.want || (tc.wantI != "" && ev.id != tc.wantI) {
				t.Fatalf("first event %+v, want %s %s", ev, tc.want, tc.wantI)
			}
		})
	}
}

// TestEventsOfAMissingConference: the stream of a conference that does not exist is
// a 404, not a 200 stream that stays open on nothing (and would later carry the
// events of a conference created with that id).
func TestEventsOfAMissingConference(t *testing.T) {
	e := newEnv(t)
	e.conference("live")
	cases := []struct{ name, token string }{
		{"attendee of it", e.token(httpapi.RoleAttendee, "nope")},
		{"presenter of it", e.token(httpapi.RolePresenter, "nope")},
		{"global admin", e.token(httpapi.RoleAdmin, "")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not e.do: a stream wrongly opened would never end, and its body is
			// not read here.
			ctx, cancel := context.WithTimeout(context.Background(), streamBound)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/conferences/nope/events", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tc.token)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("events of a missing conference: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), `"not_found"`) {
				t.Fatalf("404 without the not_found code: %s", b)
			}
		})
	}
}

// TestEventStreamEndsWhenItsConferenceIsDeleted: deleting a conference ends its
// streams. A stream left open would hold its place under the hub's caps until its
// token expired, and its client would never learn to stop.
func TestEventStreamEndsWhenItsConferenceIsDeleted(t *testing.T) {
	e := newEnv(t)
	presenter, attendee := e.conference("live")
	att := e.subscribe(t, attendee, "")
	pre := e.subscribe(t, presenter, "")
	e.must(201, e.do("POST", "/v1/conferences/live/slidesets", presenter, "", map[string]string{"name": "Deck"}))
	for _, ch := range []<-chan sseEvent{att, pre} {
		if ev := next(t, ch); ev.kind != "slideset.created" {
			t.Fatalf("before the delete: %+v", ev)
		}
	}
	e.must(204, e.do("DELETE", "/v1/conferences/live", e.token(httpapi.RoleAdmin, ""), "", nil))
	for name, ch := range map[string]<-chan sseEvent{"attendee": att, "presenter": pre} {
		drainUntilEnd(t, ch, name+"'s stream after its conference was deleted")
	}
}

// drainUntilEnd waits for the stream's end, allowing the conference's own events
// (the delete may publish one) but not a heartbeat-kept stream.
func drainUntilEnd(t *testing.T, ch <-chan sseEvent, why string) {
	t.Helper()
	deadline := time.After(streamBound)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: the stream stays open", why)
		}
	}
}

// TestLaggingEventStreamGetsAReset: a client that stops reading while more events
// than the hub's replay buffer are published has lost events it can no longer be
// sent. When it reads again it must get the documented "reset" (with the latest
// event's id, to resume from after reloading) and the stream must end; without it
// the stream would just end (or go on) and the client would never know it missed
// anything.
func TestLaggingEventStreamGetsAReset(t *testing.T) {
	se := newStuckStreamEnv(t, time.Hour)
	_, attendee := se.conference("live")
	conn := se.stalledStream(t, attendee)
	var last events.Event
	for range 65 { // one more than the hub's buffer: the stalling event leaves it
		last = se.hub.Publish("live", events.Event{Kind: events.SlideSetChanged})
	}
	ch := readSSE(conn) // the client reads again
	ev := next(t, ch)
	if ev.kind != "slideset.changed" || len(ev.data) < len(stallingEvent) {
		t.Fatalf("first event: %s (%d bytes), want the stalling event", ev.kind, len(ev.data))
	}
	ev = next(t, ch)
	if ev.kind != "reset" || ev.id != last.ID {
		t.Fatalf("after falling behind: %+v, want a reset with id %s", ev, last.ID)
	}
	streamEnds(t, ch, "after the reset")
}

// stalledStream is stuckStream returning the response body: the stream of token on a
// connection that has read nothing since the headers, whose handler is blocked
// writing stallingEvent. Reading the body resumes it.
func (se *stuckEnv) stalledStream(t *testing.T, token string) io.ReadCloser {
	t.Helper()
	raw, err := net.Dial("tcp", se.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.(*net.TCPConn).SetReadBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(se.srv.Certificate())
	conn := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /v1/conferences/live/events HTTP/1.1\r\nHost: lectern\r\nAuthorization: Bearer %s\r\n\r\n", token)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the stream to be stuck: %d", resp.StatusCode)
	}
	se.hub.Publish("live", events.Event{Kind: events.SlideSetChanged, Data: stallingEvent})
	select {
	case <-se.writing:
	case <-time.After(streamBound):
		t.Fatal("the handler never began writing the stalling event")
	}
	// The client's small receive buffer was needed only to stall the handler; a
	// larger one now lets the rest come without hundreds of round trips.
	_ = raw.(*net.TCPConn).SetReadBuffer(1 << 20)
	return resp.Body
}
