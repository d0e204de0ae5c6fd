// Package events is the per-conference event hub behind the live event stream: the
// engine publishes "content ready", slide-set and handout changes; subscribers (the
// HTTP tier's Server-Sent Events handler) receive them in order, and a subscriber that
// reconnects with the id of the last event it saw is first sent everything it missed,
// as long as it is still in the hub's replay buffer.
//
// It must not know HTTP, storage or encryption. It keeps events in memory: a
// reconnecting client whose last event fell out of the buffer (or was published by
// another server) is told so by Subscribe, and should reload the conference state.
package events

import (
	"errors"
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

// Event is one published change. Data is the JSON-ready payload.
type Event struct {
	ID       uint64    `json:"id"`
	Kind     string    `json:"kind"`
	Time     time.Time `json:"time"`
	Audience Audience  `json:"-"`
	Data     any       `json:"data"`
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
	next   uint64 // id of the next event
	buffer []Event
	subs   map[*Subscription]struct{}
}

// Subscription receives a conference's events on C until Close.
type Subscription struct {
	C      <-chan Event
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
		t = &topic{next: 1, subs: map[*Subscription]struct{}{}}
		h.topics[conf] = t
	}
	return t
}

// Publish assigns the event the conference's next id and delivers it. A subscriber
// that cannot keep up (its channel is full) is closed rather than blocking the
// publisher; it reconnects with Last-Event-ID and is replayed what it missed.
func (h *Hub) Publish(conf string, ev Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topic(conf)
	ev.ID = t.next
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

// Subscribe starts receiving a conference's events. With after > 0, the events after
// that id still in the buffer are delivered first; if some were already dropped,
// Subscribe returns ErrGap (and no subscription).
func (h *Hub) Subscribe(conf string, after uint64) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topic(conf)
	var replay []Event
	if after > 0 {
		if after >= t.next {
			return nil, ErrGap // an id this hub never issued (another server, or a restart)
		}
		oldest := t.next
		if len(t.buffer) > 0 {
			oldest = t.buffer[0].ID
		}
		if after+1 < oldest {
			return nil, ErrGap
		}
		for _, ev := range t.buffer {
			if ev.ID > after {
				replay = append(replay, ev)
			}
		}
	}
	c := make(chan Event, h.size+len(replay))
	for _, ev := range replay {
		c <- ev
	}
	s := &Subscription{C: c, c: c, hub: h, conf: conf}
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
