package stream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
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
	if !errors.Is(err, errLocked) {
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
	if err := l2.Lock(ctx, func() {}); !errors.Is(err, errLocked) {
		t.Fatalf("live lease taken: %v", err)
	}
}

// TestCrashedHoldersLease: the lease of an instance that died holding an upload makes
// requests wait up to LockWait and then answer 423 with Retry-After and the code
// "locked" (tusd's own timeout is a 500); once the lease is older than LockTTL the
// next request takes it over and the upload goes on.
func TestCrashedHoldersLease(t *testing.T) {
	be := newBackend(t)
	in := be.start(t, withStream(func(c *Config) { c.LockWait = 300 * time.Millisecond }))
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(1000)
	loc := in.create(conf, tok, int64(len(data)), meta("filename", "a.pdf"))
	id := loc[strings.LastIndex(loc, "/")+1:]
	dead := strconv.FormatInt(be.clock.Now().Add(2*time.Second).UnixMilli(), 10) + " a-crashed-instance"
	if _, err := be.bucket.PutBytes(t.Context(), uploadPrefix(conf, id)+lockObject, []byte(dead), storage.Condition{}); err != nil {
		t.Fatal(err)
	}

	if r := in.do("HEAD", loc, tok, nil, nil); r.status != http.StatusLocked || r.header.Get("Retry-After") == "" {
		t.Fatalf("HEAD of an upload a dead instance holds: %d, Retry-After %q; want 423 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	r := in.patch(loc, tok, 0, data)
	var body struct{ Error struct{ Code string } }
	if r.status != http.StatusLocked || json.Unmarshal(r.body, &body) != nil || body.Error.Code != string(CodeLocked) {
		t.Fatalf("PATCH of an upload a dead instance holds: %v; want 423 with code %q", r, CodeLocked)
	}

	be.clock.Advance(3 * time.Second) // the dead lease expires (LockTTL 2 s in these tests)
	if got := in.offset(loc, tok); got != 0 {
		t.Fatalf("offset %d after the takeover", got)
	}
	in.checkContent(conf, resultFromHeaders(t, in.patch(loc, tok, 0, data)), data)
}
