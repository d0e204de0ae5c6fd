package confapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// TestDamagedConferenceFileIsNotTheClientsFault: a conference.xml damaged on disk is
// the server's problem: 500 internal, not the 400 invalid_xml the XML parser's error
// category would give, which tells a client to fix a request it never sent wrong.
func TestDamagedConferenceFileIsNotTheClientsFault(t *testing.T) {
	first := newEnv(t)
	presenter, _ := first.conference("damaged")
	info, err := first.engine.GetConference(t.Context(), "damaged")
	if err != nil {
		t.Fatal(err)
	}
	first.stop()
	d, err := disk.New(first.dir)
	if err != nil {
		t.Fatal(err)
	}
	b := storage.NewBucket(d)
	defer b.Close()
	if _, err := b.PutBytes(context.Background(), info.Location().ConferenceFile(), []byte("<conference id="), storage.Condition{}); err != nil {
		t.Fatal(err)
	}

	e := newEnvWith(t, envOptions{same: first})
	for _, r := range []struct{ path, token string }{
		{"/v1/conferences/damaged", e.token(httpapi.RoleAdmin, "")},
		{"/v1/conferences/damaged/slidesets", presenter},
	} {
		got := e.do("GET", r.path, r.token, "", nil)
		if got.status != http.StatusInternalServerError || got.code() != string(httpapi.CodeInternal) {
			t.Errorf("GET %s: %d %s; want 500 %s", r.path, got.status, got.body, httpapi.CodeInternal)
		}
	}
}
