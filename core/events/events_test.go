package events

import (
	"errors"
	"testing"
)

func drain(t *testing.T, s *Subscription, n int) []uint64 {
	t.Helper()
	var ids []uint64
	for range n {
		ev, ok := <-s.C
		if !ok {
			t.Fatalf("channel closed after %d events", len(ids))
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestPublishReachesSubscribersInOrder(t *testing.T) {
	h := NewHub(16)
	a, err := h.Subscribe("c1", 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := h.Subscribe("c2", 0)
	for range 3 {
		h.Publish("c1", Event{Kind: SlideSetChanged})
	}
	if got := drain(t, a, 3); got[0] != 1 || got[2] != 3 {
		t.Fatalf("ids %v", got)
	}
	select {
	case ev := <-other.C:
		t.Fatalf("conference c2 received c1's event %+v", ev)
	default:
	}
}

func TestResumeAfterLastEventID(t *testing.T) {
	// Each case gets a hub whose buffer holds events 3..6 of the 6 published.
	newHub := func() *Hub {
		h := NewHub(4)
		for range 6 {
			h.Publish("c", Event{Kind: HandoutAdded})
		}
		return h
	}
	tests := []struct {
		name    string
		after   uint64
		want    []uint64
		wantErr error
	}{
		{"everything since 4", 4, []uint64{5, 6}, nil},
		{"just inside the buffer", 2, []uint64{3, 4, 5, 6}, nil},
		{"fell out of the buffer", 1, nil, ErrGap},
		{"id never issued", 99, nil, ErrGap},
		{"up to date", 6, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHub()
			s, err := h.Subscribe("c", tt.after)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			got := drain(t, s, len(tt.want))
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			ev := h.Publish("c", Event{Kind: HandoutDeleted})
			if next := drain(t, s, 1); next[0] != ev.ID {
				t.Fatalf("live event %d after replay, want %d", next[0], ev.ID)
			}
		})
	}
}

func TestSlowSubscriberIsClosedNotBlocking(t *testing.T) {
	h := NewHub(2)
	s, _ := h.Subscribe("c", 0)
	for range 10 {
		h.Publish("c", Event{Kind: ContentReady}) // must not block
	}
	n := 0
	for range s.C {
		n++
	}
	if !s.Lagged() || n == 0 {
		t.Fatalf("lagged=%v after %d events", s.Lagged(), n)
	}
}

func TestForgetClosesSubscriptions(t *testing.T) {
	h := NewHub(2)
	s, _ := h.Subscribe("c", 0)
	h.Forget("c")
	if _, ok := <-s.C; ok {
		t.Fatal("subscription still open after Forget")
	}
	s.Close() // idempotent
}
