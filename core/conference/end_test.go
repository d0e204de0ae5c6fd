package conference_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// TestEndConferenceKeepsUnknownContent: ending a conference changes conference.xml
// and keeps the attributes and elements this version does not know (SPEC section 5),
// as a rewrap does. (It used to rebuild the file from what it knew.)
func TestEndConferenceKeepsUnknownContent(t *testing.T) {
	e, _ := hookedEngine(t)
	ctx := t.Context()
	info, err := e.CreateConference(ctx, conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	file := info.Location().ConferenceFile()
	raw, _, err := e.Bucket().ReadAll(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), "<conference ", `<conference x-site="paris" `, 1)
	edited = strings.Replace(edited, "/>", "><x-note>kept</x-note></conference>", 1)
	if edited == string(raw) || !strings.Contains(edited, "x-note") {
		t.Fatalf("the test could not add unknown content to:\n%s", raw)
	}
	if _, err := e.Bucket().PutBytes(ctx, file, []byte(edited), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	ended, err := e.EndConference(ctx, "room")
	if err != nil || ended.Ended.IsZero() {
		t.Fatalf("end: %+v, %v", ended, err)
	}
	after, _, err := e.Bucket().ReadAll(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`x-site="paris"`, "<x-note>kept</x-note>", "ended="} {
		if !strings.Contains(string(after), want) {
			t.Errorf("conference.xml after the end lacks %s:\n%s", want, after)
		}
	}
	got, err := e.GetConference(ctx, "room")
	if err != nil || !got.Ended.Equal(ended.Ended) {
		t.Fatalf("get after the end: %+v, %v", got, err)
	}
}

// TestNoEndDuringDelete: a conference cannot be ended while it is being deleted, so
// that its conference.xml is not written back into the folder being emptied.
func TestNoEndDuringDelete(t *testing.T) {
	e, d := hookedEngine(t)
	ctx := t.Context()
	info, err := e.CreateConference(ctx, conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var endErr error
	d.afterPut = func(key string) {
		if key == info.Location().DeletingMarker() {
			_, endErr = e.EndConference(context.Background(), "room")
		}
	}
	if err := e.DeleteConference(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(endErr, conference.ErrNotFound) {
		t.Fatalf("end during the delete: %v, want not found", endErr)
	}
	for a, err := range e.Bucket().List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("left behind: %s", a.Key)
	}
}

// TestSlideSetOverTheWriteLimitIsRefused: a change that would make a slide set too
// large to read back is refused before it is stored (413 over the API), and the set
// stays readable and changeable. (It used to be acknowledged, after which the set,
// and the listing of every set of the conference, failed for ever.)
func TestSlideSetOverTheWriteLimitIsRefused(t *testing.T) {
	e, _ := hookedEngine(t)
	ctx := t.Context()
	if _, err := e.CreateConference(ctx, conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"}); err != nil {
		t.Fatal(err)
	}
	set, err := e.CreateSlideSet(ctx, "room", "Deck", "sip:p@example.com")
	if err != nil {
		t.Fatal(err)
	}
	addWhiteboards := func(n int) error {
		_, err := e.UpdateSlideSet(ctx, "room", set.ID, func(s *metadata.SlideSet) error {
			for range n {
				id, err := s.Append(&metadata.ImageSlide{RichSlideType: metadata.RichWhiteboard})
				if err != nil {
					return err
				}
				for range 256 { // the API's most per slide
					if err := s.AppendAnnotation(id, metadata.Annotation{Author: "a", Data: []byte{0}}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		return err
	}
	if err := addWhiteboards(10); err != nil {
		t.Fatal(err)
	}
	if err := addWhiteboards(metadata.MaxWriteNodes / 256); !errors.Is(err, conference.ErrLimit) || !errors.Is(err, metadata.ErrTooLarge) {
		t.Fatalf("a change past the write limit: %v, want ErrLimit and metadata.ErrTooLarge", err)
	}
	got, err := e.SlideSet(ctx, "room", set.ID)
	if err != nil || len(got.Slides) != 10 {
		t.Fatalf("the set after the refused change: %v, %v; want its 10 slides", got, err)
	}
	if _, err := e.ListSlideSets(ctx, "room"); err != nil {
		t.Fatalf("listing after the refused change: %v", err)
	}
	if err := addWhiteboards(1); err != nil {
		t.Fatalf("a change within the limit after the refused one: %v", err)
	}
}

// TestRewrapKeepsAnEndWrittenMeanwhile: a rewrap (KEK rotation) writes conference.xml
// only if it is unchanged since it was read, so an end written meanwhile by another
// server stays; the rewrap reads again and rewraps the ended file.
func TestRewrapKeepsAnEndWrittenMeanwhile(t *testing.T) {
	var oldKEK, newKEK [32]byte
	for _, k := range []*[32]byte{&oldKEK, &newKEK} {
		if _, err := rand.Read(k[:]); err != nil {
			t.Fatal(err)
		}
	}
	d := &hookDriver{Driver: memory.New(memory.NewStore())}
	bucket := storage.NewBucket(d)
	newEngine := func(cfg conference.Config) *conference.Engine {
		t.Helper()
		cfg.Bucket, cfg.SnapshotInterval, cfg.Logger = bucket, -1, slog.New(slog.DiscardHandler)
		e, err := conference.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		return e
	}
	ctx := t.Context()
	other := newEngine(conference.Config{KEK: oldKEK, KEKID: "kek-1"}) // another server, not yet rotated
	info, err := other.CreateConference(ctx, conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	rotating := newEngine(conference.Config{KEK: newKEK, KEKID: "kek-2", PreviousKEKs: map[string][32]byte{"kek-1": oldKEK}})
	var ended atomic.Bool
	var endErr error
	d.beforePut = func(key string) {
		if key == info.Location().ConferenceFile() && ended.CompareAndSwap(false, true) {
			_, endErr = other.EndConference(context.Background(), "room") // between the rewrap's read and write
		}
	}
	rep, err := rotating.RewrapConferences(ctx)
	if err != nil || len(rep.Rewrapped) != 1 {
		t.Fatalf("rewrap: %+v, %v", rep, err)
	}
	if !ended.Load() || endErr != nil {
		t.Fatalf("the end meanwhile: ran %v, %v", ended.Load(), endErr)
	}
	raw, _, err := bucket.ReadAll(ctx, info.Location().ConferenceFile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "ended=") || !strings.Contains(string(raw), `"kek-2"`) {
		t.Fatalf("conference.xml after the rewrap, want it ended and wrapped with kek-2:\n%s", raw)
	}
}
