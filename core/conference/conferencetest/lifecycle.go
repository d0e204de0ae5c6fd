package conferencetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

func addHandout(t *testing.T, e *conference.Engine, conf string, data []byte, filename string) *metadata.FileSet {
	t.Helper()
	st := store(t, e, conf, conference.HandoutContent, data)
	fs, err := e.AddHandout(ctx(t), conf, conference.HandoutParams{Blob: st.Ref(), Size: st.Size,
		OriginalFilename: filename, UploadedBy: "sip:vw01@contoso.com"})
	if err != nil {
		t.Fatalf("add handout: %v", err)
	}
	return fs
}

func testHandouts(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "ft")
	data := []byte("handout body\n")
	first := addHandout(t, e, "ft", data, "test.txt")
	second := addHandout(t, e, "ft", data, "notes.txt")
	if first.ID != "aaa" || second.ID != "aab" || !strings.HasSuffix(first.Blob.Name, ".blb") {
		t.Fatalf("handouts %q %q %q", first.ID, second.ID, first.Blob.Name)
	}
	if first.Uploaded.UnixMilli() != env.now().UnixMilli() || first.Size != int64(len(data)) {
		t.Fatalf("handout record %+v", first)
	}
	key, _ := keyOf(first.Blob.Key)
	if got, err := readContent(t, e, "ft", first.Blob.Name, key, 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("handout download: %q, %v", got, err)
	}
	deleted, err := e.DeleteHandout(c, "ft", first.ID)
	if err != nil || !deleted.Deleted {
		t.Fatalf("soft delete: %+v, %v", deleted, err)
	}
	if _, err := readContent(t, e, "ft", first.Blob.Name, key, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("blob of a deleted handout is still readable: %v", err)
	}
	list, err := e.ListHandouts(c, "ft")
	if err != nil || len(list) != 2 || !list[0].Deleted || list[1].Deleted {
		t.Fatalf("list after soft delete: %v", err)
	}
	bad := []struct {
		name string
		p    conference.HandoutParams
	}{
		{"not a blob name", conference.HandoutParams{Blob: metadata.ContentRef{Name: "x.epng", Key: first.Blob.Key}, OriginalFilename: "a"}},
		{"no file name", conference.HandoutParams{Blob: second.Blob}},
		{"deleted blob", conference.HandoutParams{Blob: first.Blob, OriginalFilename: "a"}},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			if _, err := e.AddHandout(c, "ft", b.p); !errors.Is(err, conference.ErrInvalidInput) {
				t.Fatalf("got %v, want ErrInvalidInput", err)
			}
		})
	}
}

func testRestart(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "persist")
	set, _ := e.CreateSlideSet(c, "persist", "Deck", "sip:a@b")
	if _, err := e.UpdateSlideSet(c, "persist", set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.WebSlide{SlideBase: metadata.SlideBase{Name: "w"}, URL: "https://example.org"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	fs := addHandout(t, e, "persist", []byte("x"), "x.txt")
	if err := e.Close(c); err != nil {
		t.Fatal(err)
	}
	again := env.Engine(t)
	got, err := again.SlideSet(c, "persist", set.ID)
	if err != nil || len(got.Slides) != 1 {
		t.Fatalf("slide set after restart: %v", err)
	}
	h, err := again.Handout(c, "persist", fs.ID)
	if err != nil || h.Blob != fs.Blob {
		t.Fatalf("handout after restart: %v", err)
	}
}

func testCrashWithoutClose(t *testing.T, env *Env) {
	// The first engine is abandoned without Close (its cleanup runs only at the end of
	// the test): everything it acknowledged must be visible to a second engine.
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "crash")
	set, _ := e.CreateSlideSet(c, "crash", "Deck", "sip:a@b")
	for i := range 5 {
		if _, err := e.UpdateSlideSet(c, "crash", set.ID, func(s *metadata.SlideSet) error {
			_, err := s.Append(&metadata.TextSlide{SlideBase: metadata.SlideBase{Name: "t"}, CurrentText: strings.Repeat("x", i)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := env.Engine(t).SlideSet(c, "crash", set.ID)
	if err != nil || len(got.Slides) != 5 {
		t.Fatalf("after a crash: %v (slides: %d)", err, len(got.Slides))
	}
}

func testEnded(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "ended")
	set, _ := e.CreateSlideSet(c, "ended", "Deck", "sip:a@b")
	info, err := e.EndConference(c, "ended")
	if err != nil || info.Ended.IsZero() {
		t.Fatalf("end: %+v %v", info, err)
	}
	if _, err := e.CreateSlideSet(c, "ended", "Deck", "sip:a@b"); !errors.Is(err, conference.ErrGone) {
		t.Fatalf("create after end: %v", err)
	}
	if _, err := e.StoreContent(c, "ended", conference.SlideContent, "png", bytes.NewReader([]byte("x")), 1); !errors.Is(err, conference.ErrGone) {
		t.Fatalf("upload after end: %v", err)
	}
	if _, err := e.SlideSet(c, "ended", set.ID); err != nil {
		t.Fatalf("reading after end: %v", err)
	}
	if got, _ := env.Engine(t).GetConference(c, "ended"); got.Ended.IsZero() {
		t.Fatal("end time not persisted")
	}
}

func testRetention(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	if _, err := e.CreateConference(c, conference.CreateParams{ID: "short", Organizer: "sip:a@b", Expires: env.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mustConference(t, e, "long") // default expiry: 14 days
	store(t, e, "short", conference.SlideContent, []byte("content"))
	rep, err := e.Sweep(c)
	if err != nil || len(rep.ConferencesRemoved) != 0 {
		t.Fatalf("sweep before expiry: %+v %v", rep, err)
	}
	env.Advance(time.Hour + conference.DefaultRetention().Grace - time.Minute)
	if rep, _ := e.Sweep(c); len(rep.ConferencesRemoved) != 0 {
		t.Fatalf("removed inside the grace period: %+v", rep)
	}
	env.Advance(2 * time.Minute)
	rep, err = e.Sweep(c)
	if err != nil || len(rep.ConferencesRemoved) != 1 || rep.ConferencesRemoved[0] != "short" {
		t.Fatalf("sweep after grace: %+v %v", rep, err)
	}
	if _, err := e.GetConference(c, "short"); !errors.Is(err, conference.ErrNotFound) {
		t.Fatalf("expired conference still there: %v", err)
	}
	if _, err := e.GetConference(c, "long"); err != nil {
		t.Fatalf("unexpired conference removed: %v", err)
	}
}

func testOrphans(t *testing.T, env *Env) {
	// The backend's ModTime is real time: the engine's clock starts there too, so
	// that the first sweep runs a moment after the files were written.
	env.clock.Store(time.Now().UnixNano())
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "orphans")
	kept := store(t, e, "orphans", conference.SlideContent, []byte("referenced"))
	orphan := store(t, e, "orphans", conference.SlideContent, []byte("never referenced"))
	// A part of an upload in progress, as the stream package writes it.
	part := layout.UploadRoot + "/orphans/0123456789abcdef0123456789abcdef/part-0000000000"
	bucket := env.Bucket(t)
	if _, err := bucket.PutBytes(c, part, []byte("part of an upload"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	// Content not yet referenced is young, not orphaned: the client references it
	// with its next request. The sweep ages it, and the upload's part, by the
	// ModTime the storage lists; a backend listing a zero or wrong one loses both
	// here.
	rep, err := e.Sweep(c)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphansRemoved != 0 || rep.UploadsRemoved != 0 {
		t.Fatalf("a sweep right after the writes removed %d content file(s) and %d upload part(s), want none", rep.OrphansRemoved, rep.UploadsRemoved)
	}
	for _, s := range []conference.Stored{kept, orphan} {
		if _, err := readContent(t, e, "orphans", s.Name, s.Key, 0, -1); err != nil {
			t.Fatalf("content stored a moment before the sweep: %v", err)
		}
	}
	set, _ := e.CreateSlideSet(c, "orphans", "Deck", "sip:a@b")
	if _, err := e.UpdateSlideSet(c, "orphans", set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "p"}, RichSlideType: metadata.RichSnapshot, Image: kept.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Move the engine's clock past the orphan and upload ages from now.
	env.clock.Store(time.Now().Add(max(conference.DefaultRetention().OrphanAge, conference.DefaultRetention().UploadAge) + time.Minute).UnixNano())
	rep, err = e.Sweep(c)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphansRemoved != 1 || rep.UploadsRemoved != 1 {
		t.Fatalf("removed %d orphans and %d upload parts, want 1 and 1", rep.OrphansRemoved, rep.UploadsRemoved)
	}
	if _, err := readContent(t, e, "orphans", kept.Name, kept.Key, 0, -1); err != nil {
		t.Fatalf("referenced content removed: %v", err)
	}
	if _, err := readContent(t, e, "orphans", orphan.Name, orphan.Key, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("orphan still there: %v", err)
	}
	if _, err := bucket.Stat(c, part); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("stale upload part still there: %v", err)
	}
}

func testSweepLease(t *testing.T, env *Env) {
	a, b := env.Engine(t), env.Engine(t)
	// Hold a's lease by sweeping inside a slow listing is not observable from
	// outside; instead check the lease file itself: a live lease makes others skip,
	// an expired one is taken over.
	bucket := env.Bucket(t)
	c := ctx(t)
	future := env.now().Add(time.Hour).UnixMilli()
	if _, err := bucket.PutBytes(c, "meta/cleanup.lease", []byte(itoa(future)+" other"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if rep, err := a.Sweep(c); err != nil || !rep.Skipped {
		t.Fatalf("sweep under another server's live lease: %+v %v", rep, err)
	}
	env.Advance(2 * time.Hour)
	if rep, err := b.Sweep(c); err != nil || rep.Skipped {
		t.Fatalf("sweep after the lease expired: %+v %v", rep, err)
	}
	if _, err := bucket.Stat(context.Background(), "meta/cleanup.lease"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("lease not released: %v", err)
	}
	// A lease file too large to be one (damage) has no expiry: it is taken over,
	// not read whole, and does not stop every sweep for good.
	if _, err := bucket.PutBytes(c, "meta/cleanup.lease", []byte(itoa(env.now().Add(time.Hour).UnixMilli())+" "+strings.Repeat("x", 1<<20)), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if rep, err := b.Sweep(c); err != nil || rep.Skipped {
		t.Fatalf("sweep over a damaged lease file: %+v %v", rep, err)
	}
}
