package conferencetest

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/metadata"
)

// CloseIdle closes conferences no request used for the idle time, leaves alone the
// ones in use and those with a content store under way, and a closed conference
// opens again with everything it held.
func testCloseIdle(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "quiet")
	mustConference(t, e, "busy")
	set, err := e.CreateSlideSet(c, "quiet", "Deck", "sip:a@b")
	if err != nil {
		t.Fatal(err)
	}
	env.Advance(10 * time.Minute)
	if _, err := e.GetConference(c, "busy"); err != nil { // used just now
		t.Fatal(err)
	}
	// A store that has begun and waits for its bytes keeps "busy" open however long.
	body := newGatedReader([]byte("late bytes"))
	stored := make(chan error, 1)
	go func() {
		_, err := e.StoreContent(c, "busy", conference.SlideContent, "png", body, -1)
		stored <- err
	}()
	<-body.reading
	env.Advance(10 * time.Minute)

	n, err := e.CloseIdle(c, 5*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("CloseIdle = %d, %v; want the one quiet conference closed", n, err)
	}
	close(body.gate)
	if err := <-stored; err != nil {
		t.Fatalf("the store that kept its conference open: %v", err)
	}
	if n, err := e.CloseIdle(c, 5*time.Minute); err != nil || n != 0 {
		t.Fatalf("CloseIdle right after the store = %d, %v; want 0 (just used)", n, err)
	}
	env.Advance(10 * time.Minute)
	if n, err := e.CloseIdle(c, 5*time.Minute); err != nil || n != 1 {
		t.Fatalf("CloseIdle once the store is done = %d, %v; want 1", n, err)
	}
	// Reopened on use, with what it held.
	got, err := e.SlideSet(c, "quiet", set.ID)
	if err != nil || got.Name != "Deck" {
		t.Fatalf("slide set after the conference was closed as idle: %+v, %v", got, err)
	}
	if list, err := e.ListContent(c, "busy"); err != nil || len(list) != 1 {
		t.Fatalf("content after close: %v, %v", list, err)
	}
}

// Requests racing CloseIdle (idle 0: everything not busy is closed at once) never
// fail and never lose an acknowledged change.
func testCloseIdleRacingRequests(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "race")
	set, err := e.CreateSlideSet(c, "race", "Deck", "sip:a@b")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	closerDone := make(chan int)
	go func() {
		total := 0
		for {
			select {
			case <-stop:
				closerDone <- total
				return
			default:
			}
			n, err := e.CloseIdle(c, 0)
			if err != nil {
				t.Errorf("CloseIdle: %v", err)
			}
			total += n
		}
	}()
	const writers, changes = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range changes {
				name := fmt.Sprintf("w%d-%d", w, i)
				if _, err := e.UpdateSlideSet(c, "race", set.ID, func(s *metadata.SlideSet) error {
					_, err := s.Append(&metadata.TextSlide{SlideBase: metadata.SlideBase{Name: name}, CurrentText: name})
					return err
				}); err != nil {
					t.Errorf("change %s: %v", name, err)
					return
				}
				if _, err := e.GetConference(c, "race"); err != nil {
					t.Errorf("read: %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if closes := <-closerDone; closes == 0 {
		t.Log("the closer never got the conference between requests (no harm, less coverage)")
	}
	got, err := e.SlideSet(c, "race", set.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Slides) != writers*changes {
		t.Fatalf("%d slides after the race, want %d", len(got.Slides), writers*changes)
	}
}

// gatedReader yields its data only once gate is closed, and closes reading when it
// is first read.
type gatedReader struct {
	gate    chan struct{}
	data    []byte
	once    sync.Once
	reading chan struct{}
	r       io.Reader
}

func newGatedReader(data []byte) *gatedReader {
	return &gatedReader{gate: make(chan struct{}), reading: make(chan struct{}), data: data, r: bytes.NewReader(data)}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	g.once.Do(func() { close(g.reading) })
	<-g.gate
	return g.r.Read(p)
}
