package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// outageDeadline bounds every operation attempted while the server is down: a backend
// may fail fast with ErrUnavailable or keep trying until the deadline, both are fine;
// hanging past it is not, and returning any other category is not.
const outageDeadline = 15 * time.Second

// recoveryTries bounds the polling after the server is back. The pause between tries
// only paces the loop; no check depends on how long recovery takes.
const (
	recoveryTries = 300
	recoveryPause = 100 * time.Millisecond
)

func faultChecks() []check {
	return []check{{"server_outage", serverOutage}}
}

// serverOutage stops the backend's server with a driver open, checks that every
// operation fails as retryable, starts the server again and checks that the same
// driver instance recovers with its data intact.
func serverOutage(t *testing.T, e *env) {
	if e.h.Server == nil {
		t.Skip("the harness has no ServerControl")
	}
	before := payload(20_000, "before the outage")
	e.put("f/before", before)

	var once sync.Once
	start := func(t testing.TB) { once.Do(func() { e.h.Server.Start(t) }) }
	e.h.Server.Stop(t)
	t.Cleanup(func() { start(t) }) // a failed check must not leave the server down

	ops := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"put", func(ctx context.Context) error {
			_, err := e.b.PutBytes(ctx, "f/during", []byte("during"), storage.Condition{})
			return err
		}},
		{"get", func(ctx context.Context) error { _, _, err := readRange(ctx, e.b, "f/before", 0, -1); return err }},
		{"stat", func(ctx context.Context) error { _, err := e.b.Stat(ctx, "f/before"); return err }},
		{"list", func(ctx context.Context) error { _, err := listAll(ctx, e.b, "f/"); return err }},
		{"delete", func(ctx context.Context) error { return e.b.Delete(ctx, "f/before") }},
	}
	for _, op := range ops {
		t.Run("unavailable_"+op.name, func(t *testing.T) {
			defer failOnPanic(t)
			ctx, cancel := context.WithTimeout(e.ctx, outageDeadline)
			defer cancel()
			err := op.do(ctx)
			switch {
			case err == nil:
				t.Fatalf("%s succeeded while the server was down", op.name)
			case errors.Is(err, storage.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
			default:
				t.Fatalf("%s while the server was down = %v (category %v), want an error matching storage.ErrUnavailable", op.name, err, storage.KindOf(err))
			}
		})
	}

	start(t)
	t.Run("same_instance_recovers", func(t *testing.T) {
		defer failOnPanic(t)
		if err := pollUntil(e.ctx, func(ctx context.Context) error { _, err := e.b.Stat(ctx, "f/before"); return err }); err != nil {
			t.Fatalf("the driver did not recover after the server came back: %v", err)
		}
	})
	t.Run("data_survives", func(t *testing.T) {
		defer failOnPanic(t)
		e := e.sub(t)
		// The delete attempted during the outage failed, so the object must be whole.
		e.wantContent(e.b, "f/before", before)
		e.wantMissing(e.b, "f/during")
	})
	t.Run("writes_after_recovery", func(t *testing.T) {
		defer failOnPanic(t)
		e := e.sub(t)
		e.put("f/after", []byte("after"))
		e.wantContent(e.b, "f/after", []byte("after"))
		e.wantKeys(e.b, "f/", "f/after", "f/before")
	})
}

// pollUntil tries op until it succeeds, as long as it fails retryably, for at most
// recoveryTries tries.
func pollUntil(ctx context.Context, op func(context.Context) error) error {
	var err error
	for range recoveryTries {
		octx, cancel := context.WithTimeout(ctx, outageDeadline)
		err = op(octx)
		cancel()
		if err == nil {
			return nil
		}
		if !storage.IsRetryable(err) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("a non-retryable error while recovering: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(recoveryPause):
		}
	}
	return fmt.Errorf("still failing after %d tries: %w", recoveryTries, err)
}
