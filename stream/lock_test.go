package stream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// TestLeaseLocker runs two lockers (two instances) over one bucket: the second waits,
// asks the holder to let go through the unlock object, and gets the lease once the
// holder unlocks; a holder that never answers keeps it until ctx ends.
func TestLeaseLocker(t *testing.T) {
	be := newBackend(t)
	cfg := Config{Bucket: be.bucket, LockTTL: 2 * time.Second, Now: time.Now, Logger: discardLogger()}
	a, b := newLeaseLocker(cfg), newLeaseLocker(cfg)
	id := tusID("conf-a", "0123456789abcdef0123456789abcdef")

	la, _ := a.NewLock(id)
	asked := make(chan struct{}, 1)
	if err := la.Lock(t.Context(), func() { asked <- struct{}{} }); err != nil {
		t.Fatal(err)
	}

	// A holder that does not answer: the waiter times out, and the holder was asked.
	lb, _ := b.NewLock(id)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	err := lb.Lock(ctx, func() {})
	cancel()
	if !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("lock held elsewhere: %v", err)
	}
	select {
	case <-asked:
	case <-time.After(5 * time.Second):
		t.Fatal("the holder was never asked to release")
	}

	// A holder that answers: the waiter gets the lease.
	go func() {
		<-asked
		_ = la.Unlock()
	}()
	lb2, _ := b.NewLock(id)
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := lb2.Lock(ctx, func() {}); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	if err := lb2.Unlock(); err != nil {
		t.Fatal(err)
	}
	if objs := be.objects(t, "uploads/"); len(objs) != 0 {
		t.Fatalf("lock objects left: %v", objs)
	}
}

// TestLeaseTakeover: a lease whose holder vanished (no renewal) is taken over after
// its TTL.
func TestLeaseTakeover(t *testing.T) {
	be := newBackend(t)
	clk := newClock()
	cfg := Config{Bucket: be.bucket, LockTTL: time.Minute, Now: clk.Now, Logger: discardLogger()}
	id := tusID("conf-a", "0123456789abcdef0123456789abcdef")
	key := uploadPrefix("conf-a", "0123456789abcdef0123456789abcdef") + lockObject
	// A lease left by a crashed process.
	if _, err := be.bucket.PutBytes(t.Context(), key, []byte("1 dead-holder"), storageCond()); err != nil {
		t.Fatal(err)
	}
	l, _ := newLeaseLocker(cfg).NewLock(id)
	if err := l.Lock(t.Context(), func() {}); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	// A live lease is not.
	if _, err := be.bucket.PutBytes(t.Context(), key, []byte("99999999999999 live-holder"), storageCond()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	l2, _ := newLeaseLocker(cfg).NewLock(id)
	if err := l2.Lock(ctx, func() {}); !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("live lease taken: %v", err)
	}
}
