package conferencetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/storage"
)

// leftoverRecorder gives any driver a LeftoverRemover that records its calls and
// answers with removed and err.
type leftoverRecorder struct {
	storage.Driver
	removed int
	err     error

	mu     sync.Mutex
	before []time.Time
}

func (l *leftoverRecorder) RemoveLeftovers(_ context.Context, before time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.before = append(l.before, before)
	return l.removed, l.err
}

// testSweepLeftovers: the sweep asks a backend that keeps leftovers of dead writes
// (S3's incomplete multipart uploads) to remove those older than UploadAge, reports
// how many went, and reports a failure without giving up the rest of the sweep. A
// Retention that leaves UploadAge zero gets the default age, never "everything until
// now", which would take the leftovers of writes still running.
func testSweepLeftovers(t *testing.T, env *Env) {
	c := ctx(t)
	tests := []struct {
		name      string
		retention conference.Retention
		removed   int
		err       error
	}{
		{"removed", conference.Retention{}, 3, nil},
		{"failed", conference.Retention{}, 0, storage.NewError(storage.ErrUnavailable, "remove leftovers", "", errors.New("injected"))},
		{"upload age left zero", conference.Retention{DefaultExpiry: time.Hour}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &leftoverRecorder{removed: tt.removed, err: tt.err}
			e := env.Engine(t, func(cfg *conference.Config) {
				rec.Driver = cfg.Bucket.Driver()
				cfg.Bucket = storage.NewBucket(rec)
				cfg.Retention = tt.retention
			})
			if _, err := e.CreateConference(c, conference.CreateParams{ID: "left-" + strings.ReplaceAll(tt.name, " ", "-"), Organizer: "sip:a@b", Expires: env.now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			env.Advance(time.Hour + conference.DefaultRetention().Grace + time.Minute)
			rep, err := e.Sweep(c)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Sweep error %v, want %v", err, tt.err)
			}
			if rep.LeftoversRemoved != tt.removed {
				t.Fatalf("LeftoversRemoved = %d, want %d", rep.LeftoversRemoved, tt.removed)
			}
			if len(rep.ConferencesRemoved) != 1 {
				t.Fatalf("the expired conference was not removed beside the leftovers: %+v", rep)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			want := env.now().Add(-conference.DefaultRetention().UploadAge)
			if len(rec.before) != 1 || !rec.before[0].Equal(want) {
				t.Fatalf("RemoveLeftovers called with %v, want once with %v", rec.before, want)
			}
		})
	}
}
