package conference_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/storage"
)

// manualClock is an engine clock that tests move by hand, so that expiry and the
// sweep's ages are reached without waiting.
type manualClock struct{ ns atomic.Int64 }

func newManualClock() *manualClock {
	c := &manualClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *manualClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *manualClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *manualClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func withClock(c *manualClock) func(*conference.Config) {
	return func(cfg *conference.Config) { cfg.Now = c.Now }
}

// openEngine returns an engine over driver (a fresh memory store when nil) with no
// snapshot timer and a fixed KEK, changed by opts, closed at cleanup.
func openEngine(t *testing.T, driver storage.Driver, kek [32]byte, opts ...func(*conference.Config)) *conference.Engine {
	t.Helper()
	if driver == nil {
		driver = memory.New(memory.NewStore())
	}
	cfg := conference.Config{Bucket: storage.NewBucket(driver), KEK: kek, SnapshotInterval: -1,
		Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := conference.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func randomKEK(t *testing.T) [32]byte {
	t.Helper()
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		t.Fatal(err)
	}
	return kek
}

// createConference creates the conference id, expiring at expires (the default when
// zero).
func createConference(t *testing.T, e *conference.Engine, id string, expires time.Time) conference.Info {
	t.Helper()
	info, err := e.CreateConference(t.Context(), conference.CreateParams{ID: id, Organizer: "sip:o@example.com", Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// eventRecorder subscribes to a conference's events and returns what was published
// since, by kind.
func eventRecorder(t *testing.T, hub *events.Hub, conf string) func() []string {
	t.Helper()
	sub, err := hub.Subscribe(conf, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return func() []string {
		var kinds []string
		for {
			ev, ok := sub.Next()
			if !ok {
				return kinds
			}
			kinds = append(kinds, ev.Kind)
		}
	}
}
