package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lectern/lectern/core/storage"
)

// statCounter counts the Stats that reach the backend; while gate is set, each Stat
// waits for it to close; while down is set, they fail as an unreachable backend does.
type statCounter struct {
	storage.Driver
	n    atomic.Int64
	gate atomic.Pointer[chan struct{}]
	down atomic.Bool
}

func (s *statCounter) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	s.n.Add(1)
	if g := s.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-ctx.Done():
			return storage.Attributes{}, ctx.Err()
		}
	}
	if s.down.Load() {
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "stat", key, errors.New("connection refused"))
	}
	return s.Driver.Stat(ctx, key)
}

// maxProbes is how many storage probes /readyz may make over elapsed: one per
// readyProbeTTL, plus the one in flight at either end.
func maxProbes(elapsed time.Duration) int64 { return int64(elapsed/readyProbeTTL) + 2 }

// TestReadyzProbeIsShared: /readyz is unauthenticated, so its storage probe (an S3
// HEAD, billed and rate limited) is made at most about once per readyProbeTTL, shared
// by concurrent callers, however many requests arrive; an outage still shows.
func TestReadyzProbeIsShared(t *testing.T) {
	d := &statCounter{Driver: diskDriver(t)}
	e := newEnvWithDriver(t, d)

	t.Run("concurrent callers share one probe", func(t *testing.T) {
		gate := make(chan struct{})
		d.gate.Store(&gate)
		start := time.Now()
		const n = 16
		var wg sync.WaitGroup
		statuses := make(chan int, n)
		for range n {
			wg.Go(func() {
				// Not e.do: it fails the test, which only the test's goroutine may do.
				resp, err := e.srv.Client().Get(e.srv.URL + "/readyz")
				if err != nil {
					statuses <- 0
					return
				}
				_ = resp.Body.Close()
				statuses <- resp.StatusCode
			})
		}
		// All n are inside the server (and one Stat has begun) before the probe answers.
		waitFor(t, "requests in flight", func() bool {
			return testutil.ToFloat64(e.api.metrics.inFlight) == n && d.n.Load() > 0
		})
		close(gate)
		wg.Wait()
		d.gate.Store(nil)
		close(statuses)
		for s := range statuses {
			if s != http.StatusOK {
				t.Fatalf("/readyz: %d", s)
			}
		}
		if got, most := d.n.Load(), maxProbes(time.Since(start)); got > most {
			t.Fatalf("%d concurrent /readyz made %d storage requests, want at most %d", n, got, most)
		}
	})

	t.Run("a flood makes about one probe a second", func(t *testing.T) {
		before := d.n.Load()
		start := time.Now()
		for range 200 {
			if r := e.do(http.MethodGet, "/readyz", nil, nil); r.status != http.StatusOK {
				t.Fatalf("/readyz: %d %s", r.status, r.body)
			}
		}
		if got, most := d.n.Load()-before, maxProbes(time.Since(start)); got > most {
			t.Fatalf("200 /readyz made %d storage requests, want at most %d", got, most)
		}
	})

	t.Run("an outage and the recovery still show", func(t *testing.T) {
		d.down.Store(true)
		waitFor(t, "/readyz 503", func() bool { return e.do(http.MethodGet, "/readyz", nil, nil).status == 503 })
		wantError(t, e.do(http.MethodGet, "/readyz", nil, nil), 503, CodeStorageUnavailable)
		d.down.Store(false)
		waitFor(t, "/readyz 200", func() bool { return e.do(http.MethodGet, "/readyz", nil, nil).status == 200 })
	})
}

// waitFor polls cond until it holds, failing after a bound generous enough for a
// loaded machine (it is not a measure of speed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 20 s", what)
		}
	}
}
