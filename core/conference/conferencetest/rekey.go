package conferencetest

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/keywrap"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// A KEK rotation: an engine with a new KEK and the old one as previous opens the
// conferences wrapped with the old one and rewraps them; afterwards the new KEK alone
// opens everything and the old one alone nothing. Metadata and content are not
// re-encrypted (the master key does not change).
func testKEKRotation(t *testing.T, env *Env) {
	c := ctx(t)
	old := env.Engine(t)
	info := mustConference(t, old, "rot")
	mustConference(t, old, "rot-2")
	set, err := old.CreateSlideSet(c, "rot", "Deck", "sip:a@b")
	if err != nil {
		t.Fatal(err)
	}
	st := store(t, old, "rot", conference.SlideContent, []byte("slide bytes"))
	if err := old.Close(c); err != nil {
		t.Fatal(err)
	}
	// An attribute this version does not know must survive the rewrap.
	b := env.Bucket(t)
	confFile := info.Location().ConferenceFile()
	raw, _, err := b.ReadAll(c, confFile)
	if err != nil {
		t.Fatal(err)
	}
	marked := strings.Replace(string(raw), "<conference ", `<conference x-later="keep me" `, 1)
	if marked == string(raw) {
		t.Fatalf("no <conference element in %q", raw)
	}
	if _, err := b.PutBytes(c, confFile, []byte(marked), storage.Condition{}); err != nil {
		t.Fatal(err)
	}

	var fresh [keywrap.KeySize]byte
	if _, err := rand.Read(fresh[:]); err != nil {
		t.Fatal(err)
	}
	newKEK := func(cfg *conference.Config) { cfg.KEK, cfg.KEKID = fresh, "kek-2" }
	withPrevious := func(cfg *conference.Config) {
		cfg.PreviousKEKs = map[string][keywrap.KeySize]byte{"test-kek": env.kek}
	}

	rotating := env.Engine(t, newKEK, withPrevious)
	if got, err := rotating.SlideSet(c, "rot", set.ID); err != nil || got.Name != "Deck" {
		t.Fatalf("slide set through the previous KEK: %+v, %v", got, err)
	}
	rep, err := rotating.RewrapConferences(c)
	if err != nil || len(rep.Rewrapped) != 2 || rep.Current != 0 {
		t.Fatalf("first rewrap: %+v, %v; want both conferences rewrapped", rep, err)
	}
	if rep, err := rotating.RewrapConferences(c); err != nil || len(rep.Rewrapped) != 0 || rep.Current != 2 {
		t.Fatalf("second rewrap: %+v, %v; want nothing left to do", rep, err)
	}
	if err := rotating.Close(c); err != nil {
		t.Fatal(err)
	}
	if raw, _, err := b.ReadAll(c, confFile); err != nil || !strings.Contains(string(raw), `x-later="keep me"`) || !strings.Contains(string(raw), `"kek-2"`) {
		t.Fatalf("conference.xml after the rewrap (err %v):\n%s", err, raw)
	}

	rotated := env.Engine(t, newKEK)
	if got, err := rotated.SlideSet(c, "rot", set.ID); err != nil || got.Name != "Deck" {
		t.Fatalf("slide set with the new KEK alone: %+v, %v", got, err)
	}
	if data, err := readContent(t, rotated, "rot", st.Name, st.Key, 0, -1); err != nil || string(data) != "slide bytes" {
		t.Fatalf("content after the rotation: %q, %v", data, err)
	}
	if _, err := rotated.UpdateSlideSet(c, "rot", set.ID, func(s *metadata.SlideSet) error { s.Name = "Deck 2"; return nil }); err != nil {
		t.Fatalf("a change after the rotation: %v", err)
	}
	if err := rotated.Close(c); err != nil {
		t.Fatal(err)
	}

	stale := env.Engine(t) // the old KEK alone
	_, err = stale.GetConference(c, "rot-2")
	var unknown *conference.UnknownKEKError
	if !errors.As(err, &unknown) || unknown.ID != "kek-2" || !errors.Is(err, keywrap.ErrUnwrap) {
		t.Fatalf("the old KEK alone after the rotation: %v; want UnknownKEKError for kek-2", err)
	}

	if _, err := conference.New(conference.Config{Bucket: env.Bucket(t), KEK: fresh, KEKID: "kek-2",
		PreviousKEKs: map[string][keywrap.KeySize]byte{"kek-2": env.kek}}); !errors.Is(err, conference.ErrInvalidInput) {
		t.Fatalf("a previous KEK with the current id: %v, want ErrInvalidInput", err)
	}
}
