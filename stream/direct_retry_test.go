package stream

import (
	"context"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// TestDirectStoredBeforeRecordFailure: a direct-path upload whose content is stored
// (and, for a handout, published) but whose record update ("done") fails. HEAD then
// answers 0 and the client sends everything again. The retry recognises the stored
// content, which by then is in use (the handout; a slide set referencing the slide
// content, whose URL and key were announced), instead of deleting it, which the
// engine refused with ErrInUse, a 409 on every retry.
func TestDirectStoredBeforeRecordFailure(t *testing.T) {
	tests := []struct {
		name string
		md   string
		// use makes the stored content in use, as the world may after the first attempt.
		use func(t *testing.T, in *instance, conf string, u *upload)
	}{
		{"handout", meta("purpose", "handout", "filename", "notes.txt"), func(t *testing.T, in *instance, conf string, _ *upload) {
			hs, err := in.engine.ListHandouts(t.Context(), conf)
			if err != nil || len(hs) != 1 {
				t.Fatalf("the first attempt should have published the handout: %d, %v", len(hs), err)
			}
		}},
		{"slide content referenced by a slide set", meta("purpose", "slide", "filename", "a.png"), func(t *testing.T, in *instance, conf string, u *upload) {
			set, err := in.engine.CreateSlideSet(t.Context(), conf, "Deck", "alice")
			if err != nil {
				t.Fatal(err)
			}
			ref := metadata.ContentRef{Name: u.rec.Name, Key: u.key.Hex()}
			if _, err := in.engine.UpdateSlideSet(t.Context(), conf, set.ID, func(s *metadata.SlideSet) error {
				_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "one"}, RichSlideType: metadata.RichSnapshot, Image: ref})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t)
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(100_000)
			loc := in.create(conf, tok, int64(len(data)), tt.md)
			id := path.Base(loc)
			var infoPuts atomic.Int64
			be.rec.mu.Lock()
			be.rec.failPut = func(key string) error {
				if strings.HasSuffix(key, "/"+infoObject) && infoPuts.Add(1) == 1 {
					return storage.NewError(storage.ErrUnavailable, "put", key, nil)
				}
				return nil
			}
			be.rec.mu.Unlock()
			if r := in.patch(loc, tok, 0, data); r.status != http.StatusServiceUnavailable {
				t.Fatalf("PATCH whose record update fails: %v, want 503", r)
			}
			u, err := in.h.store.load(contextWith(context.Background(), &reqState{conf: conf}), conf, id)
			if err != nil {
				t.Fatal(err)
			}
			tt.use(t, in, conf, u)
			contentPuts := len(be.rec.putKeys("content/"))

			off := in.offset(loc, tok)
			if off != 0 {
				t.Fatalf("HEAD offset %d, want 0 (the direct path keeps no parts)", off)
			}
			r := in.patch(loc, tok, off, data)
			if r.status != http.StatusNoContent {
				t.Fatalf("the retried PATCH: %v", r)
			}
			res := resultFromHeaders(t, r)
			if res.Name != u.rec.Name || res.Key != u.key.Hex() {
				t.Fatalf("result %s/%s, want the content stored first", res.Name, res.Key)
			}
			in.checkContent(conf, res, data)
			if n := len(be.rec.putKeys("content/")) - contentPuts; n != 0 {
				t.Errorf("the retry wrote %d content objects; the stored content should have been recognised", n)
			}
			hs, err := in.engine.ListHandouts(t.Context(), conf)
			if err != nil {
				t.Fatal(err)
			}
			handout := tt.name == "handout"
			if handout != (len(hs) == 1) || len(hs) > 1 {
				t.Fatalf("%d handouts", len(hs))
			} else if handout && res.Handout != hs[0].ID {
				t.Fatalf("handout %q answered, %q published", res.Handout, hs[0].ID)
			}
		})
	}
}
