package conferencetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// errDeleteCut is the cause of the failure deleteCutter injects.
var errDeleteCut = errors.New("the process stopped here")

// deleteCutter lets the first allowed deletes through and fails every one after,
// the way a process that dies in the middle of a conference's delete leaves it.
type deleteCutter struct {
	storage.Driver
	allowed atomic.Int64
}

func (d *deleteCutter) Delete(ctx context.Context, key string) error {
	if d.allowed.Add(-1) < 0 {
		return storage.NewError(storage.ErrUnavailable, "delete", key, errDeleteCut)
	}
	return d.Driver.Delete(ctx, key)
}

// conferenceKeys lists every key a conference has in the storage: its index entry,
// its metadata and content folders and its upload folder.
func conferenceKeys(t *testing.T, b *storage.Bucket, loc layout.Conference) []string {
	t.Helper()
	var keys []string
	for _, prefix := range []string{layout.IndexKey(loc.ID), loc.MetadataPrefix(), loc.ContentPrefix(), layout.UploadRoot + "/" + loc.ID + "/"} {
		for attrs, err := range b.List(ctx(t), prefix) {
			if err != nil {
				t.Fatal(err)
			}
			if prefix == layout.IndexKey(loc.ID) && attrs.Key != prefix {
				continue // another id that begins with this one
			}
			keys = append(keys, attrs.Key)
		}
	}
	return keys
}

// fullConference creates a conference with a referenced slide image, a handout and a
// part of an unfinished upload, and returns its place.
func fullConference(t *testing.T, e *conference.Engine, b *storage.Bucket, id string) layout.Conference {
	t.Helper()
	info := mustConference(t, e, id)
	img := store(t, e, id, conference.SlideContent, randomBytes(t, 5000))
	set, err := e.CreateSlideSet(ctx(t), id, "Deck", "sip:a@b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateSlideSet(ctx(t), id, set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "p"}, RichSlideType: metadata.RichSnapshot, Image: img.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	addHandout(t, e, id, []byte("handout"), "notes.txt")
	if _, err := b.PutBytes(ctx(t), layout.UploadRoot+"/"+id+"/part-0", []byte("part of an upload"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	return info.Location()
}

// testUnfinishedDeletes cuts a conference's delete after each number of its storage
// deletes, as a process dying there would, and checks what a new engine over the
// same storage makes of what is left:
//   - cut before the first delete, nothing is lost: the conference reads as before;
//   - cut at any later point, the conference is gone for every reader at once (its
//     conference.xml, with the wrapped master key, goes first), its id is still taken,
//     and a repeated delete or the retention sweep finishes the removal and frees it:
//     at once where the delete's marker is left, a day after the entry was written
//     where only the index entry is (the trace a create cut between its two writes
//     leaves too, and a create under way looks just like it);
//   - files without conference.xml and without a marker (damage, or a restore not
//     finished) are never removed: the sweep reports them.
func testUnfinishedDeletes(t *testing.T, env *Env) {
	env.clock.Store(time.Now().UnixNano()) // the backends' ModTime is real time
	setup := env.Engine(t)
	b := env.Bucket(t)
	c := ctx(t)

	probe := fullConference(t, setup, b, "cut-probe")
	type cut struct {
		id      string
		allowed int
		loc     layout.Conference
	}
	cuts := []*cut{{id: "cut-before-all"}, {id: "cut-after-conf"}, {id: "cut-midway"}, {id: "cut-before-index"}}
	for _, ct := range cuts {
		ct.loc = fullConference(t, setup, b, ct.id)
	}
	// The conferences are written out and closed, so that only the dying engines touch them.
	if err := setup.Close(c); err != nil {
		t.Fatal(err)
	}
	// The marker's put, then conference.xml, the other keys but the index entry,
	// the marker, and the entry: one delete per key, and one for the marker.
	keys := len(conferenceKeys(t, b, probe))
	if err := env.Engine(t).DeleteConference(c, probe.ID); err != nil {
		t.Fatal(err)
	}
	if left := conferenceKeys(t, b, probe); len(left) != 0 {
		t.Fatalf("a delete left %q", left)
	}
	cuts[1].allowed, cuts[2].allowed, cuts[3].allowed = 1, keys/2, keys
	for _, ct := range cuts {
		cutter := &deleteCutter{}
		cutter.allowed.Store(int64(ct.allowed))
		dying := env.Engine(t, func(cfg *conference.Config) {
			cutter.Driver = cfg.Bucket.Driver()
			cfg.Bucket = storage.NewBucket(cutter)
		})
		if err := dying.DeleteConference(c, ct.id); !errors.Is(err, errDeleteCut) {
			t.Fatalf("%s: delete cut after %d deletes: %v, want the injected failure", ct.id, ct.allowed, err)
		}
	}
	intactKeys := conferenceKeys(t, b, cuts[0].loc)

	fresh := env.Engine(t) // what a restarted server sees
	listed, err := fresh.ListConferences(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cuts {
		_, err := fresh.GetConference(c, ct.id)
		inList := slices.ContainsFunc(listed, func(i conference.Info) bool { return i.ID == ct.id })
		if ct.allowed == 0 {
			if err != nil || !inList {
				t.Fatalf("%s: a delete that failed before its first step lost the conference: %v, listed %v", ct.id, err, inList)
			}
			continue
		}
		if !errors.Is(err, conference.ErrNotFound) || inList {
			t.Fatalf("%s: a half-deleted conference still reads: %v, listed %v", ct.id, err, inList)
		}
		if _, err := fresh.CreateConference(c, conference.CreateParams{ID: ct.id, Organizer: "sip:a@b"}); !errors.Is(err, conference.ErrExists) {
			t.Fatalf("%s: create over a half-deleted conference: %v, want ErrExists until the removal finishes", ct.id, err)
		}
	}

	// A create that stopped between its two writes leaves an index entry alone.
	halfCreated := layout.Conference{OrgHash: layout.OrganizerHash("sip:a@b"), ID: "half-created"}
	if _, err := b.PutBytes(c, layout.IndexKey(halfCreated.ID), []byte(halfCreated.OrgHash), storage.Condition{IfNotExists: true}); err != nil {
		t.Fatal(err)
	}
	// A conference whose conference.xml is lost, or not restored yet: never removed.
	lost := fullConference(t, fresh, b, "lost-its-xml")
	if err := fresh.Close(c); err != nil {
		t.Fatal(err)
	}
	fresh = env.Engine(t)
	if err := b.Delete(c, lost.ConferenceFile()); err != nil {
		t.Fatal(err)
	}
	lostKeys := conferenceKeys(t, b, lost)

	// The deletes whose marker is left are finished at once; the entries alone are
	// younger than UploadAge and may be creates under way, so they stay.
	rep, err := fresh.Sweep(c)
	if err == nil || !strings.Contains(err.Error(), "lost-its-xml") {
		t.Fatalf("sweep over a conference without conference.xml but with files: %v, want an error naming it", err)
	}
	if got, want := slices.Sorted(slices.Values(rep.UnfinishedRemoved)), []string{"cut-after-conf", "cut-midway"}; !slices.Equal(got, want) {
		t.Fatalf("first sweep finished %q, want %q", got, want)
	}
	for _, loc := range []layout.Conference{cuts[3].loc, halfCreated} {
		if got := conferenceKeys(t, b, loc); len(got) != 1 {
			t.Fatalf("%s: the first sweep left %q, want the index entry alone", loc.ID, got)
		}
	}

	// A repeated delete finishes one by itself.
	if err := fresh.DeleteConference(c, cuts[3].id); err != nil {
		t.Fatalf("repeating the cut delete: %v", err)
	}

	// The sweep removes the entry alone once it is older than UploadAge.
	env.Advance(conference.DefaultRetention().UploadAge + time.Minute)
	rep, _ = fresh.Sweep(c)
	if got, want := rep.UnfinishedRemoved, []string{"half-created"}; !slices.Equal(got, want) {
		t.Fatalf("second sweep finished %q, want %q", got, want)
	}
	for _, ct := range cuts[1:] {
		if left := conferenceKeys(t, b, ct.loc); len(left) != 0 {
			t.Fatalf("%s: left %q", ct.id, left)
		}
	}
	for _, id := range []string{"cut-after-conf", "cut-midway", "cut-before-index", "half-created"} {
		if _, err := fresh.CreateConference(c, conference.CreateParams{ID: id, Organizer: "sip:a@b"}); err != nil {
			t.Fatalf("%s: the id is not free after the removal: %v", id, err)
		}
	}
	if got := conferenceKeys(t, b, lost); !slices.Equal(got, lostKeys) {
		t.Fatalf("the sweep touched a conference without conference.xml but with files: %q, want %q", got, lostKeys)
	}
	// Of the intact conference, the sweep removes only its upload part: unfinished for
	// longer than UploadAge.
	intactKeys = slices.DeleteFunc(intactKeys, func(k string) bool { return k == layout.UploadRoot+"/"+cuts[0].id+"/part-0" })
	if got := conferenceKeys(t, b, cuts[0].loc); !slices.Equal(got, intactKeys) {
		t.Fatalf("the conference whose delete failed before its first step has %q, want %q", got, intactKeys)
	}
	if _, err := fresh.GetConference(c, cuts[0].id); err != nil {
		t.Fatalf("the sweep took the intact conference: %v", err)
	}
}

// holdGate holds the first listing of one prefix, or the first read of one key,
// until released, and says when it has been reached.
type holdGate struct {
	storage.Driver
	at      string
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (g *holdGate) hold(name string) {
	if name != g.at {
		return
	}
	held := false
	g.once.Do(func() { held = true })
	if held {
		close(g.reached)
		<-g.release
	}
}

func (g *holdGate) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	g.hold(prefix)
	return g.Driver.List(ctx, prefix)
}

func (g *holdGate) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	g.hold(key)
	return g.Driver.Get(ctx, key, offset, length)
}

// testDeleteRacingAnOpen: a conference is deleted while a request on another engine
// is opening it, and the open writes (as after a crash, its journal holds a change not
// yet written out): a final snapshot would write the document, and loading it for the
// replay writes a copy it finds missing. The open is held at the read of that backup
// copy (the primary read, before the replay heals) or at the listing of the content
// (after the replay) while the delete starts. The open must answer not found, and the
// delete must leave nothing: files written into the folder after the delete emptied it
// are named by no index entry, and no sweep looks at them.
func testDeleteRacingAnOpen(t *testing.T, env *Env) {
	tests := []struct {
		name   string
		holdAt func(loc layout.Conference, set string) string
	}{
		{"held after the replay", func(l layout.Conference, _ string) string { return l.ContentPrefix() }},
		{"held in a healing replay", func(l layout.Conference, set string) string {
			return l.MetadataPrefix() + "set-s-" + set + ".exml"
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx(t)
			id := fmt.Sprintf("racing-%d", i)
			crashed := env.Engine(t) // never closed before the end: its changes stay in the journal
			loc := mustConference(t, crashed, id).Location()
			set, err := crashed.CreateSlideSet(c, id, "Deck", "sip:a@b")
			if err != nil {
				t.Fatal(err)
			}
			if err := crashed.Flush(c); err != nil { // both copies written
				t.Fatal(err)
			}
			// Only in the journal: the open replays it, loading the set's copies.
			if _, err := crashed.UpdateSlideSet(c, id, set.ID, func(s *metadata.SlideSet) error { s.Name = "Journaled"; return nil }); err != nil {
				t.Fatal(err)
			}

			gate := &holdGate{at: tt.holdAt(loc, set.ID), reached: make(chan struct{}), release: make(chan struct{})}
			opening := env.Engine(t, func(cfg *conference.Config) {
				gate.Driver = cfg.Bucket.Driver()
				cfg.Bucket = storage.NewBucket(gate)
			})
			opened := make(chan error, 1)
			go func() {
				_, err := opening.SlideSet(c, id, set.ID)
				opened <- err
			}()
			select {
			case <-gate.reached:
			case <-c.Done():
				t.Fatal("the open never reached the place it is held at")
			}
			deleted := make(chan error, 1)
			go func() { deleted <- opening.DeleteConference(c, id) }()
			// A delete that does not wait for the open ends now, while the open is
			// held; one that waits goes on once the open is released.
			select {
			case err := <-deleted:
				deleted <- err
			case <-time.After(500 * time.Millisecond):
			}
			close(gate.release)
			if err := <-deleted; err != nil {
				t.Fatalf("delete during the open: %v", err)
			}
			if err := <-opened; !errors.Is(err, conference.ErrNotFound) {
				t.Fatalf("the open raced by the delete: %v, want ErrNotFound", err)
			}
			if left := conferenceKeys(t, env.Bucket(t), loc); len(left) != 0 {
				t.Fatalf("the delete raced by an open left %q", left)
			}
		})
	}
}
