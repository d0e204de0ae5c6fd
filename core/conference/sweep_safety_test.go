package conference_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// readOutage fails the reads of keys containing part while armed, as a storage
// outage limited to some files would.
type readOutage struct {
	storage.Driver
	part  string
	armed *atomic.Bool
}

func (d readOutage) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, storage.Attributes, error) {
	if d.armed.Load() && strings.Contains(key, d.part) {
		return nil, storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "get", key, nil)
	}
	return d.Driver.Get(ctx, key, off, n)
}

// TestSweepKeepsContentWhileItsReferencesCannotBeRead: the orphan sweep decides
// what no slide set and no handout references; while a slide set or a handout
// cannot be read it must not decide at all. Taking the unreadable document for one
// that references nothing would delete content a live document shows, for good.
func TestSweepKeepsContentWhileItsReferencesCannotBeRead(t *testing.T) {
	for _, tc := range []struct{ name, unreadable string }{
		{"slide set unreadable", "/set-aaa"},
		{"handout unreadable", "/fileset-aaa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			kek := randomKEK(t)
			mem := memory.NewStore()
			clock := newManualClock()
			armed := &atomic.Bool{}
			open := func() *conference.Engine {
				return openEngine(t, readOutage{memory.New(mem), tc.unreadable, armed}, kek, withClock(clock))
			}
			e := open()
			createConference(t, e, "talk", time.Time{})
			slide, err := e.StoreContent(ctx, "talk", conference.SlideContent, "png", strings.NewReader("slide image"), -1)
			if err != nil {
				t.Fatal(err)
			}
			set, err := e.CreateSlideSet(ctx, "talk", "deck", "alice")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.UpdateSlideSet(ctx, "talk", set.ID, func(s *metadata.SlideSet) error {
				_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "one"}, Image: slide.Ref()})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			blob, err := e.StoreContent(ctx, "talk", conference.HandoutContent, "", strings.NewReader("handout bytes"), -1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.AddHandout(ctx, "talk", conference.HandoutParams{Blob: blob.Ref(), Size: blob.Size, OriginalFilename: "notes.txt"}); err != nil {
				t.Fatal(err)
			}
			// The newest journal record stays after a close; this one is neither
			// document's, so both are read from their snapshot files after the reopen.
			if _, err := e.CreateSlideSet(ctx, "talk", "later deck", "alice"); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(48 * time.Hour) // past OrphanAge, well before expiry
			e2 := open()
			if _, err := e2.GetConference(ctx, "talk"); err != nil {
				t.Fatal(err)
			}
			armed.Store(true)
			rep, err := e2.Sweep(ctx)
			armed.Store(false)
			if err == nil {
				t.Error("the sweep reported no error though a document could not be read")
			}
			if rep.OrphansRemoved != 0 {
				t.Errorf("the sweep removed %d files while a document that may reference them could not be read", rep.OrphansRemoved)
			}
			for _, st := range []conference.Stored{slide, blob} {
				rc, _, err := e2.OpenContent(ctx, "talk", st.Name, st.Key, 0, -1)
				if err != nil {
					t.Fatalf("referenced content %s after the sweep: %v", st.Name, err)
				}
				rc.Close()
			}
		})
	}
}

// leaseKey is where the engine keeps its clean-up lease (docs: the metadata root's
// cleanup.lease, as in the original).
const leaseKey = layout.MetadataRoot + "/cleanup.lease"

// leaseBody is a lease of another server, held until expiry.
func leaseBody(expiry time.Time) []byte {
	return []byte(strconv.FormatInt(expiry.UnixMilli(), 10) + " 00112233aabbccdd")
}

// leaseHook lets a test act as another server at two moments of a sweep: before a
// put of the lease that takes over an expired one, and when the sweep lists the
// conference index (the lease held).
type leaseHook struct {
	storage.Driver
	beforeTakeover func()
	duringSweep    func()
}

func (d *leaseHook) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if key == leaseKey && o.IfVersion != "" && d.beforeTakeover != nil {
		d.beforeTakeover()
	}
	return d.Driver.Put(ctx, key, r, o)
}

func (d *leaseHook) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	if prefix == layout.IndexRoot+"/" && d.duringSweep != nil {
		d.duringSweep()
	}
	return d.Driver.List(ctx, prefix)
}

// TestSweepLease: of the servers of a pool one sweeps at a time, by a lease in the
// storage. A live lease of another server makes a sweep stand aside; an expired one
// is taken over, unless another server took it over first; and a sweep ending gives
// back only its own lease, never one another server holds by then (its lease
// expired mid-sweep and was taken over). Otherwise two sweeps run at once, or a
// sweep fails for a lease lost fairly, or a third server starts while the second
// still sweeps.
func TestSweepLease(t *testing.T) {
	tests := []struct {
		name          string
		before        func(now time.Time) []byte // the lease already there (nil: none)
		takeover      func(now time.Time) []byte // another server's lease, put just before ours replaces an expired one
		duringSweep   func(now time.Time) []byte // another server's lease, put while the sweep runs
		wantSkipped   bool
		wantLeaseLeft func(now time.Time) []byte // nil: no lease file after the sweep
	}{
		{name: "no lease", wantSkipped: false},
		{name: "live lease of another server",
			before:        func(now time.Time) []byte { return leaseBody(now.Add(5 * time.Minute)) },
			wantSkipped:   true,
			wantLeaseLeft: func(now time.Time) []byte { return leaseBody(now.Add(5 * time.Minute)) }},
		{name: "expired lease of another server",
			before:      func(now time.Time) []byte { return leaseBody(now.Add(-time.Minute)) },
			wantSkipped: false},
		{name: "expired lease taken over by another server first",
			before:        func(now time.Time) []byte { return leaseBody(now.Add(-time.Minute)) },
			takeover:      func(now time.Time) []byte { return leaseBody(now.Add(10 * time.Minute)) },
			wantSkipped:   true,
			wantLeaseLeft: func(now time.Time) []byte { return leaseBody(now.Add(10 * time.Minute)) }},
		{name: "lease taken over by another server during the sweep",
			duringSweep:   func(now time.Time) []byte { return leaseBody(now.Add(10 * time.Minute)) },
			wantSkipped:   false,
			wantLeaseLeft: func(now time.Time) []byte { return leaseBody(now.Add(10 * time.Minute)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			mem := memory.New(memory.NewStore())
			raw := storage.NewBucket(mem) // another server's writes
			clock := newManualClock()
			now := clock.Now()
			put := func(body []byte) {
				t.Helper()
				if _, err := raw.PutBytes(context.WithoutCancel(ctx), leaseKey, body, storage.Condition{}); err != nil {
					t.Fatal(err)
				}
			}
			hook := &leaseHook{Driver: mem}
			if tc.takeover != nil {
				hook.beforeTakeover = func() { put(tc.takeover(now)) }
			}
			if tc.duringSweep != nil {
				hook.duringSweep = func() { put(tc.duringSweep(now)) }
			}
			e := openEngine(t, hook, randomKEK(t), withClock(clock))
			if tc.before != nil {
				put(tc.before(now))
			}
			rep, err := e.Sweep(ctx)
			if err != nil || rep.Skipped != tc.wantSkipped {
				t.Fatalf("Sweep = %+v, %v; want Skipped %v and no error", rep, err, tc.wantSkipped)
			}
			got, _, err := raw.ReadAll(ctx, leaseKey)
			switch {
			case tc.wantLeaseLeft == nil && !errors.Is(err, storage.ErrNotFound):
				t.Fatalf("lease after the sweep: %q, %v; want it released", got, err)
			case tc.wantLeaseLeft != nil && (err != nil || !bytes.Equal(got, tc.wantLeaseLeft(now))):
				t.Fatalf("lease after the sweep: %q, %v; want the other server's %q", got, err, tc.wantLeaseLeft(now))
			}
		})
	}
}
