package conference_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/lectern/lectern/backends/faulty"
	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// lostAnswer stores a Put of key, then answers it as unavailable, once: an answer
// lost on the way back from the storage.
type lostAnswer struct {
	storage.Driver
	key  string
	done bool
}

func (d *lostAnswer) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	a, err := d.Driver.Put(ctx, key, r, opts)
	if err == nil && key == d.key && !d.done {
		d.done = true
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, errors.New("connection reset"))
	}
	return a, err
}

// A create that the storage cut after its index entry was answered "unavailable, try
// again later" (503); the retry, once the storage is back, creates the conference. It
// used to meet the failed create's own index entry and answer "already exists" (409)
// for a day, until the retention sweep removed the entry.
func TestCreateRetriedAfterAnOutageSucceeds(t *testing.T) {
	params := conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"}
	tests := []struct {
		name string
		// driver returns the store and, if any, the switch that brings it back up.
		driver func(inner storage.Driver) (storage.Driver, *faulty.Switch)
	}{
		{"down between the index entry and conference.xml", func(inner storage.Driver) (storage.Driver, *faulty.Switch) {
			sw := &faulty.Switch{}
			hd := &hookDriver{Driver: faulty.New(inner, faulty.Config{}, sw)}
			var once sync.Once
			hd.afterPut = func(key string) {
				if key == layout.IndexKey(params.ID) {
					once.Do(sw.Down)
				}
			}
			return hd, sw
		}},
		{"the index entry's answer lost", func(inner storage.Driver) (storage.Driver, *faulty.Switch) {
			return &lostAnswer{Driver: inner, key: layout.IndexKey(params.ID)}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, sw := tt.driver(memory.New(memory.NewStore()))
			e := openEngine(t, d, randomKEK(t))
			if _, err := e.CreateConference(t.Context(), params); !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("create cut by the storage: %v, want unavailable", err)
			}
			if sw != nil {
				sw.Up()
			}
			if _, err := e.CreateConference(t.Context(), params); err != nil {
				t.Fatalf("the create retried as told: %v", err)
			}
			if _, err := e.CreateSlideSet(t.Context(), params.ID, "Deck", "sip:p@example.com"); err != nil {
				t.Fatalf("the conference of the retried create: %v", err)
			}
		})
	}
}

// refusingDelete answers a Delete of key as unavailable, once.
type refusingDelete struct {
	storage.Driver
	key  string
	done bool
}

func (d *refusingDelete) Delete(ctx context.Context, key string) error {
	if key == d.key && !d.done {
		d.done = true
		return storage.NewError(storage.ErrUnavailable, "delete", key, errors.New("connection reset"))
	}
	return d.Driver.Delete(ctx, key)
}

// What a failed create's retry removes is only its own leftover: a conference that is
// there whole (its create failed only in its answer) is kept, and the retry answers
// "already exists".
func TestCreateRetryKeepsAWholeConference(t *testing.T) {
	params := conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"}
	file := layout.Conference{OrgHash: layout.OrganizerHash(params.Organizer), ID: params.ID}.ConferenceFile()
	// conference.xml is stored but its answer lost, and the release of the index
	// entry that follows fails too.
	d := &lostAnswer{Driver: &refusingDelete{Driver: memory.New(memory.NewStore()), key: layout.IndexKey(params.ID)}, key: file}
	e := openEngine(t, d, randomKEK(t))
	if _, err := e.CreateConference(t.Context(), params); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("create whose conference.xml answer was lost: %v, want unavailable", err)
	}
	if _, err := e.CreateConference(t.Context(), params); !errors.Is(err, conference.ErrExists) {
		t.Fatalf("retry of a create that is there whole: %v, want ErrExists", err)
	}
	if _, err := e.CreateSlideSet(t.Context(), params.ID, "Deck", "sip:p@example.com"); err != nil {
		t.Fatalf("the conference the first create made: %v", err)
	}
}

// flakyPutAndDeletes answers one Put of putKey as unavailable (without storing it),
// and every Delete under delPrefix while failDeletes is set.
type flakyPutAndDeletes struct {
	storage.Driver
	putKey      string
	delPrefix   string
	failDeletes bool
}

func (d *flakyPutAndDeletes) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if key == d.putKey {
		d.putKey = ""
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, errors.New("connection reset"))
	}
	return d.Driver.Put(ctx, key, r, o)
}

func (d *flakyPutAndDeletes) Delete(ctx context.Context, key string) error {
	if d.failDeletes && strings.HasPrefix(key, d.delPrefix) {
		return storage.NewError(storage.ErrUnavailable, "delete", key, errors.New("connection reset"))
	}
	return d.Driver.Delete(ctx, key)
}

// The leftover a failed create's retry releases is an index entry alone. A create of
// an existing id that failed in an outage, then that conference's delete stopping
// midway (conference.xml gone, its marker and journal left), must not let the next
// create release the entry and write a new conference.xml over the old remains: it
// answered 201, and every request then failed as corrupt.
func TestCreateRetryLeavesAnUnfinishedDelete(t *testing.T) {
	params := conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"}
	loc := layout.Conference{OrgHash: layout.OrganizerHash(params.Organizer), ID: params.ID}
	d := &flakyPutAndDeletes{Driver: memory.New(memory.NewStore())}
	e := openEngine(t, d, randomKEK(t))
	ctx := t.Context()
	if _, err := e.CreateConference(ctx, params); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateSlideSet(ctx, params.ID, "Deck", "sip:p@example.com"); err != nil {
		t.Fatal(err)
	}
	d.putKey = layout.IndexKey(params.ID) // a create of the existing id, in an outage
	if _, err := e.CreateConference(ctx, params); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("create of an existing id in an outage: %v, want unavailable", err)
	}
	d.delPrefix, d.failDeletes = loc.MetadataPrefix()+"journal", true
	if err := e.DeleteConference(ctx, params.ID); err == nil {
		t.Fatal("the delete did not stop midway: the test tested nothing")
	}
	d.failDeletes = false
	if _, err := d.Driver.Stat(ctx, loc.ConferenceFile()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the delete stopped before conference.xml (%v): the test tested nothing", err)
	}
	if _, err := e.CreateConference(ctx, params); !errors.Is(err, conference.ErrExists) {
		t.Fatalf("create over an unfinished delete: %v, want ErrExists (until the delete is finished)", err)
	}
	if err := e.DeleteConference(ctx, params.ID); err != nil {
		t.Fatalf("finishing the delete: %v", err)
	}
	if _, err := e.CreateConference(ctx, params); err != nil {
		t.Fatalf("create after the delete finished: %v", err)
	}
	if _, err := e.ListSlideSets(ctx, params.ID); err != nil {
		t.Fatalf("the new conference: %v", err)
	}
}
