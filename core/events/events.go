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
// So that an id of another process can never be taken for one of this one, an event
// id is "<epoch>-<seq>": seq counts a conference's events from 1, and epoch is drawn
// at random when the hub starts the conference's sequence (once per process, and
// again after Forget). An id of another epoch, or one that does not parse, is a gap.
package events

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// Hub fans events out per conference.
type Hub struct {
	mu     sync.Mutex
	size   int
	topics map[string]*topic
}

type topic struct {
	epoch  string // random, so that ids differ from those of any other topic
	next   uint64 // seq of the next event
	buffer []Event
	subs   map[*Subscription]struct{}
}

func (t *topic) id(seq uint64) string { return t.epoch + "-" + strconv.FormatUint(seq, 10) }

// Subscription receives a conference's events on C until Close.
type Subscription struct {
	C <-chan Event
	// Start is the id of the last event published before the subscription started
	// (with seq 0 when there was none): a client that has seen everything up to the
	// subscription resumes from it. It is the id to give a "reset" telling the client
	// to reload, so that the client stops sending a stale Last-Event-ID.
	Start  string
	c      chan Event
	hub    *Hub
	conf   string
	once   sync.Once
	lagged bool
}

// NewHub returns a hub whose replay buffer keeps the last bufferSize events of each
// conference.
func NewHub(bufferSize int) *Hub {
	if bufferSize <= 0 {
		bufferSize = 1024
	}
	return &Hub{size: bufferSize, topics: map[string]*topic{}}
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

// Publish assigns the event the conference's next id and delivers it. A subscriber
// that cannot keep up (its channel is full) is closed rather than blocking the
// publisher; it reconnects with Last-Event-ID and is replayed what it missed.
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
		t.buffer = append(t.buffer[:0:0], t.buffer[len(t.buffer)-h.size:]...)
	}
	for s := range t.subs {
		select {
		case s.c <- ev:
		default:
			s.lagged = true
			h.closeLocked(s)
		}
	}
	return ev
}

// Subscribe starts receiving a conference's events. With lastID "" it receives the
// events published from now on. With the id of an event, the events after it still
// in the buffer are delivered first; if some were already dropped, or the id is not
// one this hub issued for the conference (another server's, a previous process's, or
// nonsense), Subscribe returns ErrGap (and no subscription).
func (h *Hub) Subscribe(conf, lastID string) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topic(conf)
	var replay []Event
	if lastID != "" {
		epoch, seq, ok := strings.Cut(lastID, "-")
		after, err := strconv.ParseUint(seq, 10, 64)
		if !ok || err != nil || epoch != t.epoch || after >= t.next {
			return nil, ErrGap
		}
		oldest := t.next
		if len(t.buffer) > 0 {
			oldest = t.buffer[0].seq
		}
		if after+1 < oldest {
			return nil, ErrGap
		}
		for _, ev := range t.buffer {
			if ev.seq > after {
				replay = append(replay, ev)
			}
		}
	}
	c := make(chan Event, h.size+len(replay))
	for _, ev := range replay {
		c <- ev
	}
	s := &Subscription{C: c, Start: t.id(t.next - 1), c: c, hub: h, conf: conf}
	t.subs[s] = struct{}{}
	return s, nil
}

// Lagged reports whether the subscription was closed because it fell behind.
func (s *Subscription) Lagged() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.lagged
}

// Close stops the subscription and closes C.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.closeLocked(s)
}

func (h *Hub) closeLocked(s *Subscription) {
	s.once.Do(func() {
		if t, ok := h.topics[s.conf]; ok {
			delete(t.subs, s)
		}
		close(s.c)
	})
}

// Forget drops a conference's topic (after the conference is deleted), closing its
// subscriptions.
func (h *Hub) Forget(conf string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.topics[conf]; ok {
		for s := range t.subs {
			h.closeLocked(s)
		}
		delete(h.topics, conf)
	}
}
