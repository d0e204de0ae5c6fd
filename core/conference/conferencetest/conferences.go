package conferencetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/keywrap"
	"github.com/lectern/lectern/core/layout"
)

func testConferenceLifecycle(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	info := mustConference(t, e, "board-2026")
	if info.OrgHash != layout.OrganizerHash("sip:vw01@contoso.com") {
		t.Fatalf("organizer hash %q", info.OrgHash)
	}
	if got, err := e.GetConference(c, "board-2026"); err != nil || got != info {
		t.Fatalf("get: %+v, %v; want %+v", got, err, info)
	}
	generated, err := e.CreateConference(c, conference.CreateParams{Organizer: "sip:other@contoso.com"})
	if err != nil || layout.ValidateConferenceID(generated.ID) != nil {
		t.Fatalf("generated id %q: %v", generated.ID, err)
	}
	list, err := e.ListConferences(c)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d conferences, %v", len(list), err)
	}

	bad := []struct {
		name string
		p    conference.CreateParams
		want error
	}{
		{"duplicate id", conference.CreateParams{ID: "board-2026", Organizer: "sip:x@y"}, conference.ErrExists},
		{"traversal id", conference.CreateParams{ID: "../x", Organizer: "sip:x@y"}, conference.ErrInvalidInput},
		{"upper-case id", conference.CreateParams{ID: "Board", Organizer: "sip:x@y"}, conference.ErrInvalidInput},
		{"no organizer", conference.CreateParams{ID: "fine"}, conference.ErrInvalidInput},
		{"control characters", conference.CreateParams{ID: "fine", Organizer: "sip:a\x00b"}, conference.ErrInvalidInput},
		{"expired already", conference.CreateParams{ID: "fine", Organizer: "sip:x@y", Expires: env.now().AddDate(0, 0, -1)}, conference.ErrInvalidInput},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			if _, err := e.CreateConference(c, b.p); !errors.Is(err, b.want) {
				t.Fatalf("got %v, want %v", err, b.want)
			}
		})
	}
	if _, err := e.GetConference(c, "fine"); !errors.Is(err, conference.ErrNotFound) {
		t.Fatalf("a refused create left a conference behind: %v", err)
	}

	if err := e.DeleteConference(c, "board-2026"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetConference(c, "board-2026"); !errors.Is(err, conference.ErrNotFound) {
		t.Fatalf("deleted conference: %v", err)
	}
	for attrs, err := range e.Bucket().List(c, "") {
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains([]byte(attrs.Key), []byte("board-2026")) {
			t.Errorf("left behind after delete: %s", attrs.Key)
		}
	}
	if err := e.DeleteConference(c, "board-2026"); !errors.Is(err, conference.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testConferenceIDRace(t *testing.T, env *Env) {
	engines := []*conference.Engine{env.Engine(t), env.Engine(t)}
	c := ctx(t)
	const racers = 8
	var wins, exists int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			_, err := engines[i%2].CreateConference(c, conference.CreateParams{ID: "contested", Organizer: "sip:a@b"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, conference.ErrExists):
				exists++
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || exists != racers-1 {
		t.Fatalf("%d creators won and %d were refused; want 1 and %d", wins, exists, racers-1)
	}
}

func testMasterKeyNeedsKEK(t *testing.T, env *Env) {
	e := env.Engine(t)
	info := mustConference(t, e, "keyed")
	raw, _, err := e.Bucket().ReadAll(ctx(t), info.Location().ConferenceFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("wrapped-master-key")) {
		t.Fatalf("conference.xml holds no wrapped master key:\n%s", raw)
	}
	other := env.Engine(t, func(c *conference.Config) { c.KEK[0] ^= 1 })
	if _, err := other.GetConference(ctx(t), "keyed"); !errors.Is(err, keywrap.ErrUnwrap) {
		t.Fatalf("an engine with another KEK opened the conference: %v", err)
	}
}
