package confapi_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/metadata"
)

// DELETE of content a slide set references answers 409 conflict and removes nothing;
// unreferenced content is deleted (204), and a second DELETE is 404.
func TestDeleteReferencedContent(t *testing.T) {
	e := newEnv(t)
	presenter, _ := e.conference("refs")
	ctx := context.Background()
	used, err := e.engine.StoreContent(ctx, "refs", conference.SlideContent, "png", bytes.NewReader([]byte("used")), 4)
	if err != nil {
		t.Fatal(err)
	}
	loose, err := e.engine.StoreContent(ctx, "refs", conference.SlideContent, "png", bytes.NewReader([]byte("loose")), 5)
	if err != nil {
		t.Fatal(err)
	}
	set, err := e.engine.CreateSlideSet(ctx, "refs", "Deck", "sip:a@b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.UpdateSlideSet(ctx, "refs", set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "p"}, RichSlideType: metadata.RichSnapshot, Image: used.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		status int
		code   string
	}{
		{used.Name, 409, "conflict"},
		{loose.Name, 204, ""},
		{loose.Name, 404, "not_found"},
	}
	for _, tt := range tests {
		r := e.do("DELETE", "/v1/conferences/refs/content/"+tt.name, presenter, "", nil)
		if r.status != tt.status || tt.code != "" && r.code() != tt.code {
			t.Fatalf("DELETE %s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}
	if rc, _, err := e.engine.OpenContent(ctx, "refs", used.Name, used.Key, 0, -1); err != nil {
		t.Fatalf("referenced content after a refused DELETE: %v", err)
	} else {
		rc.Close()
	}
}
