package events

import (
	"errors"
	"strings"
	"testing"
)

// drain takes n events, waiting on Ready as the HTTP handler does.
func drain(t *testing.T, s *Subscription, n int) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		ev, ok := s.Next()
		if ok {
			ids = append(ids, ev.ID)
			continue
		}
		if s.Ended() {
			t.Fatalf("subscription ended after %d events", len(ids))
		}
		<-s.Ready()
	}
	return ids
}

// pending reports whether an event can be taken now.
func pending(s *Subscription) bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return !s.lagged && s.next < s.t.next
}

// seqs returns the sequence numbers of ids, all of which must be of one epoch.
func seqs(t *testing.T, ids []string) []string {
	t.Helper()
	var out []string
	epoch := ""
	for _, id := range ids {
		e, n, ok := strings.Cut(id, "-")
		if !ok || (epoch != "" && e != epoch) {
			t.Fatalf("ids %v are not of one epoch", ids)
		}
		epoch = e
		out = append(out, n)
	}
	return out
}

func TestPublishReachesSubscribersInOrder(t *testing.T) {
	h := NewHub(16)
	a, err := h.Subscribe("c1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := h.Subscribe("c2", "", "")
	for range 3 {
		h.Publish("c1", Event{Kind: SlideSetChanged})
	}
	if got := seqs(t, drain(t, a, 3)); strings.Join(got, ",") != "1,2,3" {
		t.Fatalf("seqs %v", got)
	}
	if ev, ok := other.Next(); ok {
		t.Fatalf("conference c2 received c1's event %+v", ev)
	}
}

func TestResumeAfterLastEventID(t *testing.T) {
	// Each case gets a hub whose buffer holds events 3..6 of the 6 published.
	newHub := func() (*Hub, []Event) {
		h := NewHub(4)
		var evs []Event
		for range 6 {
			evs = append(evs, h.Publish("c", Event{Kind: HandoutAdded}))
		}
		return h, evs
	}
	other, _ := newHub() // another process: the same sequence, another epoch
	otherID := other.Publish("c", Event{Kind: HandoutAdded}).ID
	epoch := func(evs []Event) string { e, _, _ := strings.Cut(evs[0].ID, "-"); return e }
	tests := []struct {
		name    string
		last    func(evs []Event) string
		want    string // seqs replayed
		wantErr error
	}{
		{"everything since 4", func(evs []Event) string { return evs[3].ID }, "5,6", nil},
		{"just inside the buffer", func(evs []Event) string { return evs[1].ID }, "3,4,5,6", nil},
		{"fell out of the buffer", func(evs []Event) string { return evs[0].ID }, "", ErrGap},
		{"up to date", func(evs []Event) string { return evs[5].ID }, "", nil},
		{"seq never issued", func(evs []Event) string { return epoch(evs) + "-99" }, "", ErrGap},
		{"another hub's id of a seq this one issued", func([]Event) string { return otherID }, "", ErrGap},
		{"a bare number (an old server's id)", func([]Event) string { return "4" }, "", ErrGap},
		{"nonsense", func([]Event) string { return "x-y-z" }, "", ErrGap},
		{"negative seq", func(evs []Event) string { return epoch(evs) + "--1" }, "", ErrGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, evs := newHub()
			s, err := h.Subscribe("c", "", tt.last(evs))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			if s.Start != evs[5].ID {
				t.Fatalf("Start %q, want the last id %q", s.Start, evs[5].ID)
			}
			var n int
			if tt.want != "" {
				n = strings.Count(tt.want, ",") + 1
			}
			if got := strings.Join(seqs(t, drain(t, s, n)), ","); got != tt.want {
				t.Fatalf("replayed %v, want %v", got, tt.want)
			}
			ev := h.Publish("c", Event{Kind: HandoutDeleted})
			if next := drain(t, s, 1); next[0] != ev.ID {
				t.Fatalf("live event %s after replay, want %s", next[0], ev.ID)
			}
		})
	}
}

// TestStartResumesFromTheBeginning: the Start of a subscription to a conference with
// no events yet is an id from which a client later gets every event.
func TestStartResumesFromTheBeginning(t *testing.T) {
	h := NewHub(8)
	first, _ := h.Subscribe("c", "", "")
	start := first.Start
	first.Close()
	a := h.Publish("c", Event{Kind: SlideSetCreated})
	b := h.Publish("c", Event{Kind: SlideSetChanged})
	s, err := h.Subscribe("c", "", start)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, 2); got[0] != a.ID || got[1] != b.ID {
		t.Fatalf("resumed from %s: %v, want %s %s", start, got, a.ID, b.ID)
	}
}

// TestForgetStartsANewEpoch: a conference deleted and created again with the same
// id must not take ids of the old one's for its own.
func TestForgetStartsANewEpoch(t *testing.T) {
	h := NewHub(8)
	old := h.Publish("c", Event{Kind: SlideSetCreated})
	h.Forget("c")
	h.Publish("c", Event{Kind: SlideSetCreated})
	h.Publish("c", Event{Kind: SlideSetCreated})
	if _, err := h.Subscribe("c", "", old.ID); !errors.Is(err, ErrGap) {
		t.Fatalf("an id of the forgotten conference: %v, want ErrGap", err)
	}
}

func TestForgetEndsSubscriptions(t *testing.T) {
	h := NewHub(2)
	s, _ := h.Subscribe("c", "k", "")
	ev := h.Publish("c", Event{Kind: ConferenceEnded})
	h.Forget("c")
	if !s.Ended() || s.Lagged() {
		t.Fatalf("after Forget: ended=%v lagged=%v", s.Ended(), s.Lagged())
	}
	// What was published before the end is still delivered (conference.ended).
	if got, ok := s.Next(); !ok || got.ID != ev.ID {
		t.Fatalf("pending event after Forget: %+v %v", got, ok)
	}
	if _, ok := s.Next(); ok {
		t.Fatal("an event after the pending one")
	}
	s.Close() // idempotent
	if n := h.perKey["k"]; n != 0 {
		t.Fatalf("key still counts %d subscriptions", n)
	}
}
