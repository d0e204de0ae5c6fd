package confapi_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/httpapi"
)

type sseEvent struct{ id, kind, data string }

// subscribe opens the event stream and returns a channel of its events.
func (e *env) subscribe(t *testing.T, token, lastID string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/conferences/live/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
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

// next waits for the next event; a generous bound keeps a broken stream from
// hanging the test (it is not a performance assertion).
func next(t *testing.T, c <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-c:
		if !ok {
			t.Fatal("event stream closed")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event")
	}
	return sseEvent{}
}

func TestEventStream(t *testing.T) {
	e := newEnv(t)
	presenter, attendee := e.conference("live")
	att := e.subscribe(t, attendee, "")
	pre := e.subscribe(t, presenter, "")

	st, err := e.engine.StoreContent(context.Background(), "live", conference.SlideContent, "png", bytes.NewReader([]byte("img")), 3)
	if err != nil {
		t.Fatal(err)
	}
	e.must(201, e.do("POST", "/v1/conferences/live/slidesets", presenter, "", map[string]string{"name": "Deck"}))

	ready := next(t, pre)
	if ready.kind != "content.ready" || !strings.Contains(ready.data, st.Key.Hex()) || !strings.Contains(ready.data, st.URLPath) {
		t.Fatalf("presenter's first event: %+v", ready)
	}
	if ev := next(t, pre); ev.kind != "slideset.created" {
		t.Fatalf("presenter's second event: %+v", ev)
	}
	// The attendee does not get content.ready (it carries a key for content not yet
	// shown); its first event is the slide set.
	first := next(t, att)
	if first.kind != "slideset.created" || strings.Contains(first.data, st.Key.Hex()) {
		t.Fatalf("attendee's first event: %+v", first)
	}

	// Events published while the attendee is away are replayed on reconnect.
	e.must(200, e.do("PATCH", "/v1/conferences/live/slidesets/aaa", presenter, "", map[string]string{"name": "Renamed"}))
	e.must(204, e.do("DELETE", "/v1/conferences/live/slidesets/aaa", presenter, "", nil))
	again := e.subscribe(t, attendee, first.id)
	if ev := next(t, again); ev.kind != "slideset.changed" {
		t.Fatalf("first replayed event: %+v", ev)
	}
	if ev := next(t, again); ev.kind != "slideset.deleted" {
		t.Fatalf("second replayed event: %+v", ev)
	}
	// An id the server never issued (another server, a restart) gets a reset.
	reset := e.subscribe(t, attendee, "999999")
	if ev := next(t, reset); ev.kind != "reset" {
		t.Fatalf("unknown Last-Event-ID: %+v", ev)
	}
}

// TestEventStreamEndsWhenItsTokenExpires: the token is checked when the stream
// opens; the stream must not outlive it (heartbeats would keep it open for ever).
// The token is minted on a clock set back so that it has a few seconds left, leeway
// included, so the test waits seconds, not the token's lifetime. token.expired must
// come when the verifier stops accepting the token (its exp plus the leeway), not
// before (the client would reconnect with a token still good) and not materially
// after: a stream that outlived its token several times over would pass a test that
// only waited for the event to come at all.
func TestEventStreamEndsWhenItsTokenExpires(t *testing.T) {
	// endMargin is what the event may take to reach the client after the instant;
	// it is less than the token's remaining life (about 3 s), so that a stream kept
	// twice as long fails.
	const endMargin = 2 * time.Second
	e := newEnv(t)
	presenter, _ := e.conference("live")
	mint := func(a *httpapi.Authority) (string, *httpapi.Claims, time.Duration) {
		t.Helper()
		// ScopeSince now: the token is for this conference, not an earlier one of the
		// same id, though its clock says it was minted before the conference.
		tok, cl, err := a.Mint(httpapi.TokenSpec{Role: httpapi.RoleAttendee, Conference: "live", TTL: time.Minute, ScopeSince: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok, cl, e.auth.TimeLeft(cl)
	}
	_, _, full := mint(e.auth) // a minute and the leeway
	back := full - 3*time.Second
	short, cl, left := mint(e.auth.WithClock(func() time.Time { return time.Now().Add(-back) }))
	if left <= time.Second || left > 5*time.Second {
		t.Fatalf("setup: the token has %s left, want a few seconds", left)
	}
	// The instant the verifier stops accepting the token, from the token's own exp
	// and the verifier's leeway (what TimeLeft adds to the exp).
	expiry := cl.ExpiresAt.Time
	leeway := (e.auth.TimeLeft(cl) - time.Until(expiry)).Round(time.Second)
	refusedFrom := expiry.Add(leeway)

	ch := e.subscribe(t, short, "")
	e.must(201, e.do("POST", "/v1/conferences/live/slidesets", presenter, "", map[string]string{"name": "Deck"}))
	if ev := next(t, ch); ev.kind != "slideset.created" {
		t.Fatalf("first event: %+v", ev)
	}
	ev := next(t, ch) // next's own bound only keeps a hung stream from hanging the test
	arrived := time.Now()
	if ev.kind != "token.expired" || ev.id != "" {
		t.Fatalf("after the token's expiry: %+v, want token.expired without an id", ev)
	}
	if arrived.Before(refusedFrom.Add(-time.Second)) {
		t.Fatalf("token.expired at %s, %s before the token stops being accepted (exp %s + leeway %s)",
			arrived.Format(time.RFC3339Nano), refusedFrom.Sub(arrived), expiry.Format(time.RFC3339), leeway)
	}
	if late := arrived.Sub(refusedFrom); late > endMargin {
		t.Fatalf("token.expired %s after the token stopped being accepted (exp %s + leeway %s): the stream outlived its token",
			late, expiry.Format(time.RFC3339), leeway)
	}
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("the stream goes on after token.expired: %+v", ev)
		}
	case <-time.After(30 * time.Second): // a bound for a broken server, not a timing
		t.Fatal("the stream stayed open after token.expired")
	}
	if r := e.do("GET", "/v1/conferences/live/events", short, "", nil); r.status != 401 {
		t.Fatalf("reconnecting with the expired token: %d", r.status)
	}
}

// TestLastEventIDOfAnotherProcessGetsAReset: event ids of a restarted server (or of
// another instance) must never be taken for this one's, or a client resuming with an
// old id would silently miss the events before it. It gets a reset, whose id it then
// resumes from without missing anything.
func TestLastEventIDOfAnotherProcessGetsAReset(t *testing.T) {
	first := newEnv(t)
	presenter, attendee := first.conference("live")
	ch := first.subscribe(t, attendee, "")
	for _, n := range []string{"A", "B", "C"} {
		first.must(201, first.do("POST", "/v1/conferences/live/slidesets", presenter, "", map[string]string{"name": n}))
	}
	var seen sseEvent
	for range 3 {
		seen = next(t, ch)
	}
	first.stop()

	// The restarted server: the same data and secrets, a new hub. It publishes more
	// events than the client had seen, so that a plain counter would reach its id.
	e := newEnvWith(t, envOptions{same: first})
	for _, n := range []string{"D", "E", "F", "G", "H"} {
		e.must(201, e.do("POST", "/v1/conferences/live/slidesets", presenter, "", map[string]string{"name": n}))
	}
	otherHub := events.NewHub(8)
	for range 8 {
		otherHub.Publish("live", events.Event{Kind: events.SlideSetCreated})
	}
	own := e.subscribe(t, attendee, "")
	e.must(200, e.do("PATCH", "/v1/conferences/live/slidesets/aaa", presenter, "", map[string]string{"name": "A2"}))
	current := next(t, own)

	tests := []struct {
		name, lastID string
		reset        bool
	}{
		{"an id from before the restart", seen.id, true},
		{"an id of another hub", otherHub.Publish("live", events.Event{Kind: events.SlideSetChanged}).ID, true},
		{"a bare number", "3", true},
		{"nonsense", "abc", true},
		{"this server's own id", current.id, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.subscribe(t, attendee, tt.lastID)
			e.must(200, e.do("PATCH", "/v1/conferences/live/slidesets/aab", presenter, "", map[string]string{"name": tt.name}))
			ev := next(t, s)
			if !tt.reset {
				if ev.kind != "slideset.changed" {
					t.Fatalf("resuming from %s: %+v, want the change", tt.lastID, ev)
				}
				return
			}
			if ev.kind != "reset" || ev.id == "" || ev.id == tt.lastID {
				t.Fatalf("resuming from %q: %+v, want a reset with a new id", tt.lastID, ev)
			}
			if after := next(t, s); after.kind != "slideset.changed" {
				t.Fatalf("after the reset: %+v", after)
			}
			// The browser resumes from the reset's id: it misses nothing and gets no
			// reset again.
			again := e.subscribe(t, attendee, ev.id)
			if got := next(t, again); got.kind != "slideset.changed" {
				t.Fatalf("resuming from the reset's id %s: %+v, want the change published after it", ev.id, got)
			}
		})
	}
}

// tryStream opens the event stream and returns the response as soon as its headers
// came, the body unread; a 200 stream stays open until stop is called (or the test
// ends).
func (e *env) tryStream(t *testing.T, token string) (resp *http.Response, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/conferences/live/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stop = func() { cancel(); resp.Body.Close() }
	t.Cleanup(stop)
	return resp, stop
}

// TestEventStreamLimits: open streams are capped per token and per conference, so
// that no participant can make the server hold streams without bound; one more is
// 429 too_many_requests with Retry-After, and a closed stream frees its place.
func TestEventStreamLimits(t *testing.T) {
	e := newEnv(t)
	_, attendee := e.conference("live")
	e.hub.SetLimits(events.Limits{PerKey: 2, PerConference: 3})
	other := e.token(httpapi.RoleAttendee, "live")
	third := e.token(httpapi.RoleAttendee, "live")

	refused := func(t *testing.T, token, limit string) {
		t.Helper()
		resp, _ := e.tryStream(t, token)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a stream over the %s limit: %d, want 429", limit, resp.StatusCode)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `"too_many_requests"`) || !strings.Contains(string(body), limit) {
			t.Fatalf("a stream over the %s limit: %d %s", limit, resp.StatusCode, body)
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra <= 0 {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	var open []func()
	for _, tok := range []string{attendee, attendee} {
		resp, stop := e.tryStream(t, tok)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream within the limits: %d", resp.StatusCode)
		}
		open = append(open, stop)
	}
	refused(t, attendee, "token")
	if resp, _ := e.tryStream(t, other); resp.StatusCode != http.StatusOK {
		t.Fatalf("another token's stream: %d", resp.StatusCode)
	}
	refused(t, third, "conference")

	// The server notices the closed stream when its request context ends; the
	// generous bound only keeps a broken server from hanging the test.
	open[0]()
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, _ := e.tryStream(t, attendee)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after a stream closed: %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
