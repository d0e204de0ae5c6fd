// Package events is the per-conference event hub behind the live event stream: the
// engine publishes "content ready", slide-set and handout changes; subscribers (the
// HTTP tier's Server-Sent Events handler) receive them in order, and a subscriber that
// reconnects with the id of the last event it saw is first sent everything it missed,
// as long as it is still in the hub's replay buffer.
//
// It must not know HTTP, storage or encryption. It keeps events in memory: a
// reconnecting client whose last event fell out of the buffer (or was published by
// another server, or by this server before a restart) is told so by Subscribe, and
// should reload the conference state.
//
// A subscription holds no events of its own: it is a cursor into its conference's
// replay buffer and a one-slot wake-up channel, so an idle stream costs a few hundred
// bytes whatever the buffer size. A subscriber that falls so far behind that its next
// event leaves the buffer is marked lagged and woken; its client resumes from ResetID
// after a reload, so it misses nothing either way. Concurrent subscriptions are capped
// per conference and per key (the HTTP tier's token id), so that no participant can
// make the server hold an unbounded number of streams. A subscription keeps its place
// under the caps until Close, lagged or not: a lagging subscriber is usually one whose
// handler is stuck writing to a client that stopped reading, and freeing its place at
// the lag let one token hold any number of such handlers.
//
// So that an id of another process can never be taken for one of this one, an event
// id is "<epoch>-<seq>": seq counts a conference's events from 1, and epoch is drawn
// at random when the hub starts the conference's sequence (once per process, and
// again after Forget). An id of another epoch, or one that does not parse, is a gap.
package events

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event kinds.
const (
	ContentReady    = "content.ready"
	SlideSetCreated = "slideset.created"
	SlideSetChanged = "slideset.changed"
	SlideSetDeleted = "slideset.deleted"
	HandoutAdded    = "handout.added"
	HandoutDeleted  = "handout.deleted"
	ConferenceEnded = "conference.ended"
)

// Audience restricts who may receive an event.
type Audience int

const (
	// Everyone in the conference.
	Everyone Audience = iota
	// Presenters only (and admins).
	Presenters
)

// Event is one published change. Data is the JSON-ready payload. ID is set by
// Publish; clients treat it as opaque and send it back as Last-Event-ID.
type Event struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Time     time.Time `json:"time"`
	Audience Audience  `json:"-"`
	Data     any       `json:"data"`

	seq uint64 // the number in ID
}

// ErrGap reports that a subscriber asked to resume after an event that is no longer in
// the replay buffer: some events were missed and the client must reload.
var ErrGap = errors.New("events since the given id are no longer available")

// ErrLimit reports that a subscription would be over one of the hub's Limits.
var ErrLimit = errors.New("too many event streams")

// Default limits of a hub.
const (
	DefaultMaxPerConference = 1000
	DefaultMaxPerKey        = 16
)

// Limits bound concurrent subscriptions. Zero means the default, negative means no
// limit.
type Limits struct {
	// PerConference bounds the subscriptions to one conference.
	PerConference int
	// PerKey bounds the subscriptions of one key (across conferences); subscriptions
	// with the key "" are not counted.
	PerKey int
}

func (l Limits) withDefaults() Limits {
	if l.PerConference == 0 {
		l.PerConference = DefaultMaxPerConference
	}
	if l.PerKey == 0 {
		l.PerKey = DefaultMaxPerKey
	}
	return l
}

// Hub fans events out per conference.
type Hub struct {
	mu     sync.Mutex
	size   int
	limits Limits
	topics map[string]*topic
	perKey map[string]int // open subscriptions by key
}

type topic struct {
	epoch  string // random, so that ids differ from those of any other topic
	next   uint64 // seq of the next event
	buffer []Event
	subs   map[*Subscription]struct{}
}

func (t *topic) id(seq uint64) string { return t.epoch + "-" + strconv.FormatUint(seq, 10) }

// oldest returns the seq of the oldest event in the buffer (next when it is empty).
func (t *topic) oldest() uint64 {
	if len(t.buffer) == 0 {
		return t.next
	}
	return t.buffer[0].seq
}

// Subscription is a cursor into a conference's events. Wait on Ready, then take the
// pending events with Next until it reports none; when Next reports none and Ended is
// true, the subscription is over (Lagged tells whether it fell behind). Close it when
// done with it: until then it holds its place under the hub's Limits, even ended.
type Subscription struct {
	// Start is the id of the last event published before the subscription started
	// (with seq 0 when there was none): a client that has seen everything up to the
	// subscription resumes from it. It is the id to give a "reset" telling the client
	// to reload, so that the client stops sending a stale Last-Event-ID.
	Start string

	ready chan struct{} // one slot: a wake-up, never an event
	hub   *Hub
	t     *topic // kept after Forget, so that what was pending can still be taken
	key   string

	// Guarded by hub.mu.
	next   uint64 // seq of the next event to hand out
	ended  bool
	lagged bool
}

// NewHub returns a hub whose replay buffer keeps the last bufferSize events of each
// conference, with the default Limits.
func NewHub(bufferSize int) *Hub {
	if bufferSize <= 0 {
		bufferSize = 1024
	}
	return &Hub{size: bufferSize, limits: Limits{}.withDefaults(), topics: map[string]*topic{}, perKey: map[string]int{}}
}

// SetLimits changes the limits for subscriptions made from now on; open ones stay.
func (h *Hub) SetLimits(l Limits) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.limits = l.withDefaults()
}

func (h *Hub) topic(conf string) *topic {
	t, ok := h.topics[conf]
	if !ok {
		t = &topic{epoch: newEpoch(), next: 1, subs: map[*Subscription]struct{}{}}
		h.topics[conf] = t
	}
	return t
}

// newEpoch returns 64 random bits in hex: two epochs are equal by chance with a
// probability of 2^-64.
func newEpoch() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}

// Publish assigns the event the conference's next id and delivers it. It never
// blocks: subscribers are woken and take the event from the replay buffer when they
// can. A subscriber whose next event falls out of the buffer is marked lagged and
// woken; it keeps its place under the Limits until it is closed.
func (h *Hub) Publish(conf string, ev Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topic(conf)
	ev.seq = t.next
	ev.ID = t.id(ev.seq)
	t.next++
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	t.buffer = append(t.buffer, ev)
	if len(t.buffer) > h.size {
		// Copied rather than resliced, so that the dropped events' memory is
		// freed instead of kept behind the slice.
		t.buffer = append(t.buffer[:0:0], t.buffer[len(t.buffer)-h.size:]...)
	}
	oldest := t.oldest()
	for s := range t.subs {
		if s.lagged {
			continue // woken when it lagged; nothing more to give it
		}
		if s.next < oldest {
			s.lagged = true
		}
		s.wake()
	}
	return ev
}

// Subscribe starts receiving a conference's events, as key (the subscriber's
// identity for Limits; "" for none). With lastID "" it receives the events published
// from now on. With the id of an event, the events after it still in the buffer are
// delivered first; if some were already dropped, or the id is not one this hub
// issued for the conference (another server's, a previous process's, or nonsense),
// Subscribe returns ErrGap (and no subscription). Over a limit it returns an error
// matching ErrLimit, which says which limit.
func (h *Hub) Subscribe(conf, key, lastID string) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topic(conf)
	from := t.next
	if lastID != "" {
		epoch, seq, ok := strings.Cut(lastID, "-")
		after, err := strconv.ParseUint(seq, 10, 64)
		if !ok || err != nil || epoch != t.epoch || after >= t.next {
			return nil, ErrGap
		}
		if after+1 < t.oldest() {
			return nil, ErrGap
		}
		from = after + 1
	}
	if max := h.limits.PerConference; max > 0 && len(t.subs) >= max {
		return nil, fmt.Errorf("%w: the conference has %d open event streams, the most allowed", ErrLimit, max)
	}
	if max := h.limits.PerKey; key != "" && max > 0 && h.perKey[key] >= max {
		return nil, fmt.Errorf("%w: this token has %d open event streams, the most allowed", ErrLimit, max)
	}
	s := &Subscription{Start: t.id(t.next - 1), ready: make(chan struct{}, 1), hub: h, t: t, key: key, next: from}
	t.subs[s] = struct{}{}
	if key != "" {
		h.perKey[key]++
	}
	if from < t.next {
		s.wake()
	}
	return s, nil
}

func (s *Subscription) wake() {
	select {
	case s.ready <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Ready receives a value when events may be pending or the subscription has ended.
// A wake-up can be spurious: Next says whether there is anything.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Next returns the next pending event, in order; ok is false when none is pending.
// A lagged subscription has none: what it had pending is partly gone.
func (s *Subscription) Next() (ev Event, ok bool) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if s.lagged || s.next >= s.t.next {
		return Event{}, false
	}
	oldest := s.t.oldest()
	if s.next < oldest { // cannot happen: Publish marks such a subscription lagged
		s.lagged = true
		return Event{}, false
	}
	ev = s.t.buffer[s.next-oldest]
	s.next++
	return ev, true
}

// Ended reports whether the subscription was ended (by Close, by Forget, or because
// it lagged); events pending before an end other than lagging can still be taken.
func (s *Subscription) Ended() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.ended || s.lagged
}

// Lagged reports whether the subscription fell behind: it delivers nothing more, and
// keeps its place under the Limits until Close.
func (s *Subscription) Lagged() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.lagged
}

// ResetID returns the id of the conference's latest event: the id to send with a
// reset after the subscription lagged. A client that reloads after the reset has
// everything up to it, and resumes from it without missing anything.
func (s *Subscription) ResetID() string {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.t.id(s.t.next - 1)
}

// Close ends the subscription and frees its place under the Limits. It is
// idempotent.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.endLocked(s)
}

func (h *Hub) endLocked(s *Subscription) {
	if s.ended {
		return
	}
	s.ended = true
	delete(s.t.subs, s)
	if s.key != "" {
		if h.perKey[s.key]--; h.perKey[s.key] <= 0 {
			delete(h.perKey, s.key)
		}
	}
	s.wake()
}

// Forget drops a conference's topic (after the conference is deleted), ending its
// subscriptions.
func (h *Hub) Forget(conf string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.topics[conf]; ok {
		for s := range t.subs {
			h.endLocked(s)
		}
		delete(h.topics, conf)
	}
}
