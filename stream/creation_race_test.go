package stream

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/httpapi"
)

// A creation whose conference is deleted between the creation's check of the
// conference and its upload record answers 404 and leaves nothing. The record used
// to land after the delete had emptied the conference's upload folder: an upload of a
// deleted conference, in a folder no index entry names, which no sweep looks at.
func TestCreationRacingItsConferencesDelete(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("gone")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	prefix := layout.UploadRoot + "/" + conf + "/"
	var once sync.Once
	deleted := make(chan error, 1)
	be.rec.mu.Lock()
	be.rec.failPut = func(key string) error {
		if strings.HasPrefix(key, prefix) && strings.HasSuffix(key, "/"+infoObject) {
			once.Do(func() { deleted <- in.engine.DeleteConference(context.Background(), conf) })
		}
		return nil
	}
	be.rec.mu.Unlock()
	r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{
		"Upload-Length": "10", "Upload-Metadata": meta("filename", "a.pdf")}, nil)
	select {
	case err := <-deleted:
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
	default:
		t.Fatal("no upload record was written: the test tested nothing")
	}
	if r.status != http.StatusNotFound {
		t.Errorf("creation whose conference was deleted under it: %v, want 404", r)
	}
	for attrs, err := range be.bucket.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("left in the deleted conference's upload folder: %s", attrs.Key)
	}
}
