package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestFailedShutdownIsNotACleanStop: when a hosted part's Shutdown fails (the
// engine's flush on a full disk), serve reports it after shutting everything down, and
// lecternd exits 1, not 0 ("stopped cleanly"); a part that shuts down well exits 0.
func TestFailedShutdownIsNotACleanStop(t *testing.T) {
	flushFailed := errors.New("flush: no space left on device")
	tests := []struct {
		name     string
		shutdown error
		code     int
	}{
		{"shutdown fails", flushFailed, 1},
		{"shutdown succeeds", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := extensionFactories
			t.Cleanup(func() { extensionFactories = saved })
			var shutDown bool
			extensionFactories = append(append([]ExtensionFactory(nil), saved...), func(context.Context, *Runtime) (Extension, error) {
				return Extension{Name: "flaky", Shutdown: func(context.Context) error {
					shutDown = true
					return tt.shutdown
				}}, nil
			})
			p := newInProcess(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- serve(ctx, p.cfg, p.sec, p.log) }()
			waitListening(t, p.logs)
			cancel() // as SIGTERM does
			err := <-done
			if !shutDown {
				t.Fatal("the part was not shut down")
			}
			code := 0
			if err != nil {
				code = exitCode(err)
			}
			if code != tt.code || (tt.shutdown != nil && (!errors.Is(err, errShutdown) || !errors.Is(err, flushFailed))) {
				t.Fatalf("serve = %v, exit code %d, want %d", err, code, tt.code)
			}
			// The parts started before it (the engine) are shut down after it, failed or not.
			if !strings.Contains(p.logs.String(), `"msg":"shut down","part":"engine"`) {
				t.Fatalf("the other parts were not shut down:\n%s", p.logs.String())
			}
		})
	}
}
