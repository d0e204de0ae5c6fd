package conference_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// A request waiting for a conference that a slow change holds gives up when its
// context ends (its client went away), instead of waiting as long as the change's
// storage write takes and then doing its work for nobody.
func TestWaitForABusyConferenceEndsWithItsContext(t *testing.T) {
	e, d := hookedEngine(t)
	ctx := t.Context()
	if _, err := e.CreateConference(ctx, conference.CreateParams{ID: "busy", Organizer: "sip:o@example.com"}); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d.beforePut = func(key string) {
		if strings.Contains(key, "/busy/") {
			once.Do(func() { close(entered); <-release })
		}
	}
	changed := make(chan error, 1)
	go func() {
		_, err := e.CreateSlideSet(ctx, "busy", "Deck", "sip:p@example.com")
		changed <- err
	}()
	<-entered // the change holds the conference while its write waits
	wctx, cancel := context.WithCancel(ctx)
	waited := make(chan error, 1)
	go func() {
		_, err := e.GetConference(wctx, "busy")
		waited <- err
	}()
	cancel()
	select {
	case err := <-waited:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a request whose context ended while it waited: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second): // generous: a bound, not a measure
		t.Error("a request still waited for the busy conference 30 s after its context ended")
	}
	close(release)
	if err := <-changed; err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetConference(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
}

// A delete that comes while a create of the same id is between its index entry and
// its conference.xml waits for the create, then deletes the conference whole. Run
// in between, it answered "deleted" before the create answered "created", and left
// that conference.xml, with its wrapped master key, where nothing names it.
func TestDeleteDuringCreateWaitsForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, d := hookedEngine(t)
		entered, release := make(chan struct{}), make(chan struct{})
		d.beforePut = func(key string) {
			if strings.HasSuffix(key, "/conference.xml") {
				close(entered)
				<-release
			}
		}
		created := make(chan error, 1)
		var info conference.Info
		go func() {
			var err error
			info, err = e.CreateConference(t.Context(), conference.CreateParams{ID: "race", Organizer: "sip:o@example.com"})
			created <- err
		}()
		<-entered // the index entry is written, conference.xml not yet
		deleted := make(chan error, 1)
		go func() { deleted <- e.DeleteConference(t.Context(), "race") }()
		synctest.Wait()
		select {
		case err := <-deleted:
			close(release) // so that the bubble can end
			t.Fatalf("the delete ended (%v) while the create was under way", err)
		default:
		}
		close(release)
		if err := <-created; err != nil {
			t.Fatal(err)
		}
		if err := <-deleted; err != nil {
			t.Fatalf("the delete after the create: %v", err)
		}
		if _, err := e.GetConference(t.Context(), "race"); !errors.Is(err, conference.ErrNotFound) {
			t.Fatalf("deleted conference: %v, want ErrNotFound", err)
		}
		if _, err := d.Driver.Stat(t.Context(), info.Location().ConferenceFile()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("conference.xml after the delete: %v, want not found", err)
		}
	})
}

// Content whose conference is deleted during its compliance copy is not announced:
// the delete has ended the conference's event subscriptions (events.Hub.Forget), and
// a content.ready published after it started a new topic for the id, which a
// conference created later with the same id inherited, with the deleted content's
// key in its replay buffer. The store fails as for an unknown conference.
func TestContentOfAConferenceDeletedDuringItsComplianceCopyIsNotAnnounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &hookDriver{Driver: memory.New(memory.NewStore())}
		hub := events.NewHub(16)
		e := openEngine(t, d, randomKEK(t), func(c *conference.Config) { c.Events = hub; c.Compliance = conference.Compliance{Enabled: true} })
		info, err := e.CreateConference(t.Context(), conference.CreateParams{ID: "gone", Organizer: "sip:o@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		d.beforePut = func(key string) {
			if strings.HasPrefix(key, info.Location().CompliancePrefix()+"content/") {
				once.Do(func() { close(entered); <-release })
			}
		}
		stored := make(chan error, 1)
		go func() {
			_, err := e.StoreContent(t.Context(), "gone", conference.SlideContent, "png", strings.NewReader("slide"), 5)
			stored <- err
		}()
		<-entered // the content is stored; its compliance copy waits
		if err := e.DeleteConference(t.Context(), "gone"); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := <-stored; !errors.Is(err, conference.ErrNotFound) {
			t.Errorf("store into a conference deleted during its compliance copy: %v, want ErrNotFound", err)
		}
		sub, err := hub.Subscribe("gone", "", "")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if !strings.HasSuffix(sub.Start, "-0") {
			t.Errorf("the deleted conference's id has events again (the last is %s): one was published after the delete", sub.Start)
		}
	})
}

// hangingPuts makes every Put wait, while hang is set, until its context ends: a
// storage server that takes requests and never answers.
type hangingPuts struct {
	storage.Driver
	hang atomic.Bool
}

func (d *hangingPuts) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if d.hang.Load() {
		<-ctx.Done()
		return storage.Attributes{}, ctx.Err()
	}
	return d.Driver.Put(ctx, key, r, opts)
}

// An idle close ends on a hung storage. lecternd's idle loop calls CloseIdle with a
// context that never ends, and the close holds the conference's lock while it writes
// the conference's documents: it used to hold it for as long as the storage hung,
// and every request for the conference waited. (In a synctest bubble the minutes
// below pass at once.)
func TestIdleCloseEndsOnAHungStorage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &hangingPuts{Driver: memory.New(memory.NewStore())}
		e := openEngine(t, d, randomKEK(t))
		ctx := t.Context()
		if _, err := e.CreateConference(ctx, conference.CreateParams{ID: "room", Organizer: "sip:o@example.com"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.CreateSlideSet(ctx, "room", "Deck", "sip:p@example.com"); err != nil { // a dirty document
			t.Fatal(err)
		}
		d.hang.Store(true)
		closed := make(chan error, 1)
		go func() {
			_, err := e.CloseIdle(context.Background(), 0)
			closed <- err
		}()
		select {
		case err := <-closed:
			if err == nil {
				t.Error("CloseIdle on a hung storage reported no error")
			}
		case <-time.After(10 * time.Minute):
			t.Fatal("CloseIdle still writing after 10 minutes of a hung storage")
		}
		d.hang.Store(false)
		if _, err := e.ListSlideSets(ctx, "room"); err != nil {
			t.Fatalf("the conference after an idle close that failed: %v", err)
		}
	})
}

// A create of an id that exists (it will answer ErrExists) does not hide the
// conference meanwhile: only a delete does. The engine below has not opened the
// conference (another server created it, or it was closed as idle), so the open
// during the create used to answer "being created or deleted: not found".
func TestCreateOfAnExistingIDLeavesItVisible(t *testing.T) {
	engines, d := hookedEngines(t, 2)
	ctx := t.Context()
	if _, err := engines[0].CreateConference(ctx, conference.CreateParams{ID: "live", Organizer: "sip:o@example.com"}); err != nil {
		t.Fatal(err)
	}
	e := engines[1]
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d.beforePut = func(key string) {
		if key == layout.IndexKey("live") {
			once.Do(func() { close(entered); <-release })
		}
	}
	created := make(chan error, 1)
	go func() {
		_, err := e.CreateConference(ctx, conference.CreateParams{ID: "live", Organizer: "sip:o@example.com"})
		created <- err
	}()
	<-entered // the create's put of the index entry waits
	_, getErr := e.GetConference(ctx, "live")
	close(release)
	if err := <-created; !errors.Is(err, conference.ErrExists) {
		t.Fatalf("create of an existing id: %v, want ErrExists", err)
	}
	if getErr != nil {
		t.Errorf("the existing conference while a create of its id was under way: %v", getErr)
	}
}
