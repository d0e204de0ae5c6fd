package stream

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/tus/tusd/v2/pkg/memorylocker"
)

// TestReleaseGate: a release asked for before the holder's request may be interrupted
// is delivered when the gate opens, once; after that every request is delivered at
// once; a gate that never opens delivers nothing.
func TestReleaseGate(t *testing.T) {
	tests := []struct {
		name  string
		steps string // r: request, o: open
		want  int    // unlocks delivered
	}{
		{"never opened", "rr", 0},
		{"asked before opening", "rro", 1},
		{"asked after opening", "orr", 2},
		{"both", "roro", 2},
		{"opened twice", "roo", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			g := &releaseGate{unlock: func() { n++ }}
			for _, s := range tt.steps {
				if s == 'r' {
					g.request()
				} else {
					g.open()
				}
			}
			if n != tt.want {
				t.Fatalf("%d unlocks, want %d", n, tt.want)
			}
		})
	}
}

// TestGatedLocker: a second request for a locked upload asks the holder to let go;
// the holder hears it only once its gate is open, and the gate goes with the lock.
func TestGatedLocker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newGatedLocker(memorylocker.New())
		const id = "conf/uploads/0123456789abcdef0123456789abcdef"
		first, _ := l.NewLock(id)
		asked := make(chan struct{}, 1)
		if err := first.Lock(context.Background(), func() { asked <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
		second, _ := l.NewLock(id)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan error, 1)
		go func() { got <- second.Lock(ctx, func() {}) }()

		// Wait returns once the second request is blocked: it has asked by then
		// (memorylocker asks at once), so a delivered ask is seen below.
		synctest.Wait()
		select {
		case <-asked:
			t.Fatal("the holder was asked to let go before its gate opened")
		case err := <-got:
			t.Fatalf("the second request got the lock while the first held it: %v", err)
		default:
		}
		l.openGate(id)
		<-asked // delivered by the opening
		if err := first.Unlock(); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("the second request after the first let go: %v", err)
		}
		l.mu.Lock()
		holders := len(l.gates)
		l.mu.Unlock()
		if holders != 1 {
			t.Fatalf("%d gates registered, want the second holder's only", holders)
		}
		if err := second.Unlock(); err != nil {
			t.Fatal(err)
		}
		l.openGate(id) // no holder: nothing to do
		if len(l.gates) != 0 {
			t.Fatalf("gates left after every unlock: %v", l.gates)
		}
	})
}
