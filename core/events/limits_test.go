package events

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// heapPerSubscription returns the live heap one idle subscription adds, measured over
// n subscriptions to one conference of a hub of lecternd's buffer size.
func heapPerSubscription(t testing.TB, n int) uint64 {
	t.Helper()
	h := NewHub(1024)
	h.SetLimits(Limits{PerConference: -1, PerKey: -1})
	h.Publish("c", Event{Kind: SlideSetCreated}) // the topic and its buffer exist before
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	subs := make([]*Subscription, 0, n)
	for i := range n {
		s, err := h.Subscribe("c", fmt.Sprint("token-", i), "")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(subs)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return (after.HeapAlloc - before.HeapAlloc) / uint64(n)
}

// TestIdleSubscriptionIsSmall: a subscription must not reserve room for the whole
// replay buffer (it was a channel of 1024 events, 88 KiB, so that a few thousand
// streams of one attendee took hundreds of MiB). The bound is a tenth of that; the
// measured size is logged.
func TestIdleSubscriptionIsSmall(t *testing.T) {
	const n = 2000
	per := heapPerSubscription(t, n)
	t.Logf("heap per idle subscription (NewHub(1024), %d subscriptions, per-key counts included): %d bytes", n, per)
	if per > 8<<10 {
		t.Fatalf("an idle subscription holds %d bytes", per)
	}
}

// BenchmarkIdleSubscription reports the heap bytes of one idle subscription
// (bytes/subscription), next to a buffered channel of the hub's size, which is what a
// subscription held before (bytes/chan-1024).
func BenchmarkIdleSubscription(b *testing.B) {
	per := heapPerSubscription(b, 1000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	chans := make([]chan Event, 100)
	for i := range chans {
		chans[i] = make(chan Event, 1024)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(chans)
	for b.Loop() {
	}
	b.ReportMetric(float64(per), "bytes/subscription")
	b.ReportMetric(float64((after.HeapAlloc-before.HeapAlloc)/uint64(len(chans))), "bytes/chan-1024")
}

// TestBehindWithinTheBufferMissesNothing: a subscriber that does not read while most
// of a buffer's worth of events is published gets every one of them, in order.
func TestBehindWithinTheBufferMissesNothing(t *testing.T) {
	h := NewHub(1024)
	s, _ := h.Subscribe("c", "", "")
	var want []string
	for range 1024 {
		want = append(want, h.Publish("c", Event{Kind: SlideSetChanged}).ID) // never blocks
	}
	got := drain(t, s, len(want))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: %s, want %s", i, got[i], want[i])
		}
	}
	if s.Lagged() || s.Ended() || pending(s) {
		t.Fatalf("lagged=%v ended=%v pending=%v", s.Lagged(), s.Ended(), pending(s))
	}
}

// TestLaggedSubscriberResumesFromResetID: a subscriber whose next event leaves the
// buffer is ended as lagged; resuming from its ResetID (after the client reloads)
// gets every event published after it, so the reload and the resume miss nothing.
// The lagged subscription keeps its place under the limits until it is closed: its
// handler may be stuck writing to a client that stopped reading, and before, the lag
// freed its place at once, so that one key held any number of such handlers.
func TestLaggedSubscriberResumesFromResetID(t *testing.T) {
	for _, read := range []int{0, 2} { // events read before falling behind
		t.Run(fmt.Sprint(read, " read"), func(t *testing.T) {
			h := NewHub(4)
			h.SetLimits(Limits{PerKey: 1})
			s, _ := h.Subscribe("c", "k", "")
			for range read {
				h.Publish("c", Event{Kind: ContentReady})
			}
			drain(t, s, read)
			var last Event
			for range 5 { // one more than the buffer
				last = h.Publish("c", Event{Kind: ContentReady})
			}
			if !s.Lagged() || !s.Ended() {
				t.Fatalf("lagged=%v ended=%v, want both", s.Lagged(), s.Ended())
			}
			if ev, ok := s.Next(); ok {
				t.Fatalf("a lagged subscription delivered %+v", ev)
			}
			reset := s.ResetID()
			if reset != last.ID {
				t.Fatalf("ResetID %s, want the latest event's %s", reset, last.ID)
			}
			if _, err := h.Subscribe("c", "k", reset); !errors.Is(err, ErrLimit) {
				t.Fatalf("with the lagged subscription still open, its key took another place: %v", err)
			}
			select {
			case <-s.Ready(): // woken, so that its handler learns of the lag
			default:
				t.Fatal("the lagged subscription was not woken")
			}
			s.Close()
			if n := h.perKey["k"]; n != 0 {
				t.Fatalf("the closed lagged subscription still counts: %d", n)
			}
			after := h.Publish("c", Event{Kind: HandoutAdded})
			again, err := h.Subscribe("c", "k", reset)
			if err != nil {
				t.Fatalf("resuming from the reset id: %v", err)
			}
			if got := drain(t, again, 1); got[0] != after.ID {
				t.Fatalf("resumed with %s, want %s", got[0], after.ID)
			}
		})
	}
}

func TestSubscriptionLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		// open are the (conference, key) subscriptions made first, all accepted.
		open     [][2]string
		conf     string
		key      string
		wantErr  bool
		wantText string
	}{
		{"per key", Limits{PerKey: 2}, [][2]string{{"a", "k"}, {"b", "k"}}, "c", "k", true, "token"},
		{"per key, another key", Limits{PerKey: 2}, [][2]string{{"a", "k"}, {"a", "k"}}, "a", "j", false, ""},
		{"no key is not counted per key", Limits{PerKey: 1}, [][2]string{{"a", ""}, {"a", ""}}, "a", "", false, ""},
		{"per conference", Limits{PerConference: 2}, [][2]string{{"a", "k1"}, {"a", "k2"}}, "a", "k3", true, "conference"},
		{"per conference, another conference", Limits{PerConference: 2}, [][2]string{{"a", "k1"}, {"a", "k2"}}, "b", "k3", false, ""},
		{"no limits", Limits{PerConference: -1, PerKey: -1}, [][2]string{{"a", "k"}, {"a", "k"}, {"a", "k"}}, "a", "k", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub(8)
			h.SetLimits(tt.limits)
			var subs []*Subscription
			for _, o := range tt.open {
				s, err := h.Subscribe(o[0], o[1], "")
				if err != nil {
					t.Fatalf("setup subscription %v: %v", o, err)
				}
				subs = append(subs, s)
			}
			s, err := h.Subscribe(tt.conf, tt.key, "")
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrLimit) || s != nil {
				t.Fatalf("over the limit: %v, %v; want ErrLimit", s, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("the error %q does not say which limit (%s)", err, tt.wantText)
			}
			// A gap is answered before the limit, and takes no place.
			if _, err := h.Subscribe(tt.conf, tt.key, "nonsense"); !errors.Is(err, ErrGap) {
				t.Fatalf("an unknown id over the limit: %v, want ErrGap", err)
			}
			// A closed subscription frees its place.
			subs[len(subs)-1].Close()
			subs[len(subs)-1].Close() // twice frees it once
			if s, err := h.Subscribe(tt.conf, tt.key, ""); err != nil {
				t.Fatalf("after a close: %v", err)
			} else if _, err := h.Subscribe(tt.conf, tt.key, ""); !errors.Is(err, ErrLimit) {
				t.Fatalf("a second close freed a second place: %v", err)
			} else {
				s.Close()
			}
		})
	}
}
