package conference_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/metadata"
)

// TestExpiredConferenceRefusesChanges: a conference past its expiry, though nobody
// ended it, accepts no more content and no more changes (ErrGone, as an ended one):
// the sweep deletes it after the grace period, and a change accepted meanwhile
// would be acknowledged and then lost. Expiry is the instant itself: at Expires the
// conference is already gone, a millisecond before it is not.
func TestExpiredConferenceRefusesChanges(t *testing.T) {
	type world struct {
		e    *conference.Engine
		set  string
		fs   string
		blob conference.Stored
	}
	ops := []struct {
		name string
		do   func(ctx context.Context, w world) error
	}{
		{"StoreContent", func(ctx context.Context, w world) error {
			_, err := w.e.StoreContent(ctx, "talk", conference.SlideContent, "png", strings.NewReader("x"), -1)
			return err
		}},
		{"CreateSlideSet", func(ctx context.Context, w world) error {
			_, err := w.e.CreateSlideSet(ctx, "talk", "deck", "alice")
			return err
		}},
		{"UpdateSlideSet", func(ctx context.Context, w world) error {
			_, err := w.e.UpdateSlideSet(ctx, "talk", w.set, func(s *metadata.SlideSet) error { s.Name = "renamed"; return nil })
			return err
		}},
		{"DeleteSlideSet", func(ctx context.Context, w world) error { return w.e.DeleteSlideSet(ctx, "talk", w.set) }},
		{"AddHandout", func(ctx context.Context, w world) error {
			_, err := w.e.AddHandout(ctx, "talk", conference.HandoutParams{Blob: w.blob.Ref(), Size: w.blob.Size, OriginalFilename: "b.txt"})
			return err
		}},
		{"DeleteHandout", func(ctx context.Context, w world) error {
			_, err := w.e.DeleteHandout(ctx, "talk", w.fs)
			return err
		}},
	}
	for _, at := range []struct {
		name     string
		offset   time.Duration // from the expiry
		wantGone bool
	}{
		{"a millisecond before expiry", -time.Millisecond, false},
		{"at expiry", 0, true},
		{"an hour after expiry", time.Hour, true},
	} {
		for _, op := range ops {
			t.Run(at.name+"/"+op.name, func(t *testing.T) {
				ctx := t.Context()
				clock := newManualClock()
				e := openEngine(t, nil, randomKEK(t), withClock(clock))
				info := createConference(t, e, "talk", clock.Now().Add(time.Hour))
				set, err := e.CreateSlideSet(ctx, "talk", "deck", "alice")
				if err != nil {
					t.Fatal(err)
				}
				first, err := e.StoreContent(ctx, "talk", conference.HandoutContent, "", strings.NewReader("one"), -1)
				if err != nil {
					t.Fatal(err)
				}
				fs, err := e.AddHandout(ctx, "talk", conference.HandoutParams{Blob: first.Ref(), Size: first.Size, OriginalFilename: "a.txt"})
				if err != nil {
					t.Fatal(err)
				}
				blob, err := e.StoreContent(ctx, "talk", conference.HandoutContent, "", strings.NewReader("two"), -1)
				if err != nil {
					t.Fatal(err)
				}
				clock.Set(info.Expires.Add(at.offset))
				err = op.do(ctx, world{e: e, set: set.ID, fs: fs.ID, blob: blob})
				switch {
				case at.wantGone && !errors.Is(err, conference.ErrGone):
					t.Fatalf("%s: %v; want ErrGone", op.name, err)
				case !at.wantGone && err != nil:
					t.Fatalf("%s: %v; want it accepted", op.name, err)
				}
				if _, err := e.GetConference(ctx, "talk"); err != nil {
					t.Fatalf("an expired conference stays readable: %v", err)
				}
			})
		}
	}
}

// TestEndingTwiceKeepsTheFirstEnd: ending an ended conference changes nothing: its
// end time stays the first one (the record of when the meeting ended) and no second
// conference.ended event reaches the clients, who would take it for news.
func TestEndingTwiceKeepsTheFirstEnd(t *testing.T) {
	ctx := t.Context()
	clock := newManualClock()
	hub := events.NewHub(64)
	e := openEngine(t, nil, randomKEK(t), withClock(clock), func(c *conference.Config) { c.Events = hub })
	createConference(t, e, "talk", time.Time{})
	published := eventRecorder(t, hub, "talk")
	first, err := e.EndConference(ctx, "talk")
	if err != nil || first.Ended.IsZero() {
		t.Fatalf("EndConference: %+v, %v", first, err)
	}
	clock.Advance(time.Hour)
	again, err := e.EndConference(ctx, "talk")
	if err != nil || !again.Ended.Equal(first.Ended) {
		t.Fatalf("second EndConference: ended %v, %v; want the first end %v kept", again.Ended, err, first.Ended)
	}
	if info, err := e.GetConference(ctx, "talk"); err != nil || !info.Ended.Equal(first.Ended) {
		t.Fatalf("after the second end: ended %v, %v; want %v", info.Ended, err, first.Ended)
	}
	if got := published(); !slices.Equal(got, []string{events.ConferenceEnded}) {
		t.Fatalf("events %v; want one %s", got, events.ConferenceEnded)
	}
}

// TestDeletingWhatIsGoneChangesNothing: deleting a slide set that does not exist
// (never made, or deleted already) answers ErrNotFound and tells no client anything;
// deleting a deleted handout answers the handout as it is, with its deletion time
// unchanged and no second event. A repeated delete (a client retrying) must not show
// the other clients a deletion that did not happen now.
func TestDeletingWhatIsGoneChangesNothing(t *testing.T) {
	ctx := t.Context()
	clock := newManualClock()
	hub := events.NewHub(64)
	e := openEngine(t, nil, randomKEK(t), withClock(clock), func(c *conference.Config) { c.Events = hub })
	createConference(t, e, "talk", time.Time{})
	set, err := e.CreateSlideSet(ctx, "talk", "deck", "alice")
	if err != nil {
		t.Fatal(err)
	}
	blob, err := e.StoreContent(ctx, "talk", conference.HandoutContent, "", strings.NewReader("notes"), -1)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := e.AddHandout(ctx, "talk", conference.HandoutParams{Blob: blob.Ref(), Size: blob.Size, OriginalFilename: "a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteSlideSet(ctx, "talk", set.ID); err != nil {
		t.Fatal(err)
	}
	deleted, err := e.DeleteHandout(ctx, "talk", fs.ID)
	if err != nil {
		t.Fatal(err)
	}
	published := eventRecorder(t, hub, "talk") // from here on, nothing happens
	clock.Advance(time.Hour)

	for _, id := range []string{set.ID, "zzz"} {
		if err := e.DeleteSlideSet(ctx, "talk", id); !errors.Is(err, conference.ErrNotFound) {
			t.Errorf("DeleteSlideSet(%s) of a missing set: %v; want ErrNotFound", id, err)
		}
	}
	again, err := e.DeleteHandout(ctx, "talk", fs.ID)
	if err != nil || !again.Deleted || !again.Modified.Equal(deleted.Modified) {
		t.Errorf("second DeleteHandout: %+v, %v; want the deleted handout unchanged (modified %v)", again, err, deleted.Modified)
	}
	if got, err := e.Handout(ctx, "talk", fs.ID); err != nil || !got.Modified.Equal(deleted.Modified) {
		t.Errorf("handout after the second delete: %+v, %v", got, err)
	}
	if got := published(); len(got) != 0 {
		t.Errorf("repeated deletes published %v", got)
	}
}

// TestReplaceSlideSetXMLKeepsTheSetsID: XML without an id attribute replaces the
// set and keeps its id (a client editing the XML need not repeat it); XML naming
// another set is refused, so that no set takes another's id.
func TestReplaceSlideSetXMLKeepsTheSetsID(t *testing.T) {
	ctx := t.Context()
	e := openEngine(t, nil, randomKEK(t))
	createConference(t, e, "talk", time.Time{})
	set, err := e.CreateSlideSet(ctx, "talk", "deck", "alice")
	if err != nil {
		t.Fatal(err)
	}
	xml, err := e.SlideSetXML(ctx, "talk", set.ID)
	if err != nil {
		t.Fatal(err)
	}
	idAttr := []byte(` id="` + set.ID + `"`)
	if !bytes.Contains(xml, idAttr) {
		t.Fatalf("setup: no %s in %s", idAttr, xml)
	}
	for _, tc := range []struct {
		name    string
		replace []byte // what the id attribute becomes
		want    error
	}{
		{"no id", nil, nil},
		{"its own id", idAttr, nil},
		{"another set's id", []byte(` id="zzz"`), conference.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := bytes.Replace(xml, idAttr, tc.replace, 1)
			got, err := e.ReplaceSlideSetXML(ctx, "talk", set.ID, data)
			switch {
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("ReplaceSlideSetXML: %v; want %v", err, tc.want)
			case tc.want == nil && (err != nil || got.ID != set.ID):
				t.Fatalf("ReplaceSlideSetXML: %+v, %v; want set %s", got, err, set.ID)
			}
			if sets, err := e.ListSlideSets(ctx, "talk"); err != nil || len(sets) != 1 || sets[0].ID != set.ID {
				t.Fatalf("slide sets after the replace: %d, %v", len(sets), err)
			}
		})
	}
}
