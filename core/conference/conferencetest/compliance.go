package conferencetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

func keyOf(hex string) (encryption.Key, error) { return encryption.ParseKey(hex) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func testCompliance(t *testing.T, env *Env) {
	e := env.Engine(t, func(c *conference.Config) { c.Compliance = conference.Compliance{Enabled: true, Required: true} })
	c := ctx(t)
	info := mustConference(t, e, "audit")
	data := []byte("compliance plaintext")
	st := store(t, e, "audit", conference.SlideContent, data)
	set, _ := e.CreateSlideSet(c, "audit", "Deck", "sip:a@b")
	var gone string
	if _, err := e.UpdateSlideSet(c, "audit", set.ID, func(s *metadata.SlideSet) error {
		var err error
		gone, err = s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "to be deleted"}, RichSlideType: metadata.RichSnapshot, Image: st.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateSlideSet(c, "audit", set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Remove(gone)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	b := env.Bucket(t)
	prefix := info.Location().CompliancePrefix()
	plain, _, err := b.ReadAll(c, prefix+"content/"+strings.TrimSuffix(st.Name, ".epng")+".png")
	if err != nil || !bytes.Equal(plain, data) {
		t.Fatalf("plain content copy: %q, %v", plain, err)
	}
	xml, _, err := b.ReadAll(c, prefix+"set-"+set.ID+".xml")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := metadata.UnmarshalSlideSet(xml)
	if err != nil {
		t.Fatal(err)
	}
	if i := cs.Index(gone); i < 0 || !strings.Contains(string(xml), `deleted="true"`) {
		t.Fatalf("compliance copy lost the deleted slide:\n%s", xml)
	}
	live, _ := e.SlideSet(c, "audit", set.ID)
	if live.Index(gone) >= 0 {
		t.Fatal("the live set still has the deleted slide")
	}

	// With Required, a failed compliance copy fails the change and acknowledges
	// nothing.
	failing := env.Engine(t, func(cfg *conference.Config) {
		cfg.Bucket = storage.NewBucket(&failPrefix{Driver: cfg.Bucket.Driver(), prefix: "compliance/"})
		cfg.Compliance = conference.Compliance{Enabled: true, Required: true}
	})
	before, _ := failing.SlideSetXML(c, "audit", set.ID)
	_, err = failing.UpdateSlideSet(c, "audit", set.ID, func(s *metadata.SlideSet) error { s.Name = "renamed"; return nil })
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("change with failing compliance: %v", err)
	}
	after, _ := failing.SlideSetXML(c, "audit", set.ID)
	if !bytes.Equal(before, after) {
		t.Fatal("a change whose compliance copy failed was applied")
	}
}

// failPrefix fails every put under prefix as unavailable.
type failPrefix struct {
	storage.Driver
	prefix string
}

func (f *failPrefix) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if strings.HasPrefix(key, f.prefix) {
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, errors.New("injected"))
	}
	return f.Driver.Put(ctx, key, r, o)
}
