package conference_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"iter"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
)

// hookDriver runs its hooks after the inner driver's operations: a Delete or Put
// that succeeded, or a listing that has yielded everything.
type hookDriver struct {
	storage.Driver
	beforePut   func(key string)
	afterDelete func(key string)
	afterPut    func(key string)
	afterList   func(prefix string)
}

func (d *hookDriver) Delete(ctx context.Context, key string) error {
	err := d.Driver.Delete(ctx, key)
	if err == nil && d.afterDelete != nil {
		d.afterDelete(key)
	}
	return err
}

func (d *hookDriver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if d.beforePut != nil {
		d.beforePut(key)
	}
	a, err := d.Driver.Put(ctx, key, r, opts)
	if err == nil && d.afterPut != nil {
		d.afterPut(key)
	}
	return a, err
}

func (d *hookDriver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		for a, err := range d.Driver.List(ctx, prefix) {
			if !yield(a, err) {
				return
			}
		}
		if d.afterList != nil {
			d.afterList(prefix)
		}
	}
}

func hookedEngine(t *testing.T) (*conference.Engine, *hookDriver) {
	t.Helper()
	engines, d := hookedEngines(t, 1)
	return engines[0], d
}

// hookedEngines returns n engines over one hooked memory store with one KEK, as n
// servers sharing a store.
func hookedEngines(t *testing.T, n int) ([]*conference.Engine, *hookDriver) {
	t.Helper()
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		t.Fatal(err)
	}
	d := &hookDriver{Driver: memory.New(memory.NewStore())}
	engines := make([]*conference.Engine, n)
	for i := range engines {
		e, err := conference.New(conference.Config{Bucket: storage.NewBucket(d), KEK: kek, SnapshotInterval: -1,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		engines[i] = e
	}
	return engines, d
}

// TestRecreateRightAfterDelete: the id of a deleted conference is free again only
// once nothing of the old one is left, so that a conference created with it the
// moment it is free keeps everything it wrote. (The delete used to remove its
// index entry and then sweep the metadata folder once more, taking the new
// conference.xml with it: an acknowledged create, unreadable, its id taken.) The
// re-create comes from another engine over the same store: in one engine, a create
// waits for a delete of the same id to end.
func TestRecreateRightAfterDelete(t *testing.T) {
	engines, d := hookedEngines(t, 2)
	e, other := engines[0], engines[1]
	ctx := t.Context()
	p := conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"}
	if _, err := e.CreateConference(ctx, p); err != nil {
		t.Fatal(err)
	}
	var recreated atomic.Bool
	var recreateErr error
	d.afterDelete = func(key string) {
		if key == layout.IndexKey("room") && recreated.CompareAndSwap(false, true) {
			_, recreateErr = other.CreateConference(context.Background(), p)
		}
	}
	if err := e.DeleteConference(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if !recreated.Load() || recreateErr != nil {
		t.Fatalf("re-create as the id became free: ran %v, %v", recreated.Load(), recreateErr)
	}
	if _, err := e.GetConference(ctx, "room"); err != nil {
		t.Fatalf("the re-created conference: %v", err)
	}
	if _, err := e.CreateSlideSet(ctx, "room", "Deck", "sip:o@example.com"); err != nil {
		t.Fatalf("a change of the re-created conference: %v", err)
	}
}

// TestOverlappingDeletesKeepARecreate: deletes of one id run one after another, so a
// delete still running cannot remove a conference created after another delete of the
// same id had freed it. (A retried DELETE, or an admin's racing the sweep's, did.)
func TestOverlappingDeletesKeepARecreate(t *testing.T) {
	e, d := hookedEngine(t)
	ctx := t.Context()
	p := conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"}
	info, err := e.CreateConference(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var once atomic.Bool
	second := make(chan error, 1)
	var secondErr, recreateErr error
	secondDone := false
	d.afterPut = func(key string) {
		if key != info.Location().DeletingMarker() || !once.CompareAndSwap(false, true) {
			return
		}
		// The first delete is paused here, after its marker. The second one must not
		// get past it; if it did (as it used to), a client re-creates the id at once.
		go func() { second <- e.DeleteConference(context.Background(), "room") }()
		select {
		case secondErr = <-second:
			secondDone = true
			_, recreateErr = e.CreateConference(context.Background(), p)
		case <-time.After(time.Second): // (only how long the first stays paused)
		}
	}
	if err := e.DeleteConference(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if !once.Load() {
		t.Fatal("the second delete never started: the test tested nothing")
	}
	if !secondDone {
		secondErr = <-second
		_, recreateErr = e.CreateConference(ctx, p)
	}
	// The second delete waited for the first, then found nothing to delete.
	if !errors.Is(secondErr, conference.ErrNotFound) || recreateErr != nil {
		t.Fatalf("the overlapping delete: %v (want not found); the re-create: %v", secondErr, recreateErr)
	}
	if _, err := e.GetConference(ctx, "room"); err != nil {
		t.Fatalf("the re-created conference: %v", err)
	}
}

// TestNoOpenDuringDelete: while a delete runs, the conference is not opened, so that
// nothing is stored through it into the folders being emptied. (An open between the
// delete's first steps used to succeed, and content stored through it after the
// delete had listed the content folder stayed there, acknowledged, in a folder no
// index entry names, which no sweep looks at.)
func TestNoOpenDuringDelete(t *testing.T) {
	e, d := hookedEngine(t)
	ctx := t.Context()
	info, err := e.CreateConference(ctx, conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	loc := info.Location()
	var opened, stored atomic.Bool
	var openErr, storeErr error
	d.afterPut = func(key string) {
		if key == loc.DeletingMarker() && opened.CompareAndSwap(false, true) {
			_, openErr = e.GetConference(context.Background(), "room")
		}
	}
	d.afterList = func(prefix string) {
		if prefix == loc.ContentPrefix() && opened.Load() && stored.CompareAndSwap(false, true) {
			_, storeErr = e.StoreContent(context.Background(), "room", conference.SlideContent, "png",
				bytes.NewReader([]byte("late bytes")), 10)
		}
	}
	if err := e.DeleteConference(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if !opened.Load() || !stored.Load() {
		t.Fatalf("the hooks did not run (open %v, store %v): the test tested nothing", opened.Load(), stored.Load())
	}
	if !errors.Is(openErr, conference.ErrNotFound) || !errors.Is(storeErr, conference.ErrNotFound) {
		t.Fatalf("during the delete: open %v, store %v; want not found for both", openErr, storeErr)
	}
	for a, err := range e.Bucket().List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("left behind by the delete: %s", a.Key)
	}
	if _, err := e.CreateConference(ctx, conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"}); err != nil {
		t.Fatalf("create after the delete: %v", err)
	}
}

// TestConferenceFileOfAnotherConference: conference.xml copied from one conference's
// folder into another's (a restore into the wrong folder) is refused as damaged, not
// taken for the other conference with the first one's identity, retention and key.
func TestConferenceFileOfAnotherConference(t *testing.T) {
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		t.Fatal(err)
	}
	bucket := storage.NewBucket(memory.New(memory.NewStore()))
	newEngine := func() *conference.Engine { return engineOn(t, bucket, kek) }
	ctx := t.Context()
	creator := newEngine()
	alpha, err := creator.CreateConference(ctx, conference.CreateParams{ID: "alpha", Organizer: "sip:a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	beta, err := creator.CreateConference(ctx, conference.CreateParams{ID: "beta", Organizer: "sip:b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := bucket.ReadAll(ctx, alpha.Location().ConferenceFile())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bucket.PutBytes(ctx, beta.Location().ConferenceFile(), raw, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	e := newEngine() // nothing open: beta is read from its folder
	if got, err := e.GetConference(ctx, "beta"); !errors.Is(err, metastore.ErrCorrupt) {
		t.Fatalf("beta with alpha's conference.xml: %+v, %v; want metastore.ErrCorrupt", got, err)
	}
	if _, err := e.StoreContent(ctx, "beta", conference.SlideContent, "png", bytes.NewReader([]byte("x")), 1); !errors.Is(err, metastore.ErrCorrupt) {
		t.Fatalf("storing into beta: %v; want metastore.ErrCorrupt", err)
	}
	list, err := e.ListConferences(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "alpha" {
		t.Fatalf("list: %+v, %v; want alpha alone", list, err)
	}
}
