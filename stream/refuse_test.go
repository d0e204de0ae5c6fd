package stream

import (
	"bytes"
	"context"
	"net/http"
	"path"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi"
)

// TestHandoutFilenameCheckedAtCreation: a handout the engine could never record (no
// file name, one over 255 bytes, or one with characters XML cannot carry) is refused when it is created, with nothing
// stored, instead of after every byte was sent.
func TestHandoutFilenameCheckedAtCreation(t *testing.T) {
	tests := []struct {
		name   string
		md     string
		status int
	}{
		{"no filename", meta("purpose", "handout"), http.StatusBadRequest},
		{"empty filename", meta("purpose", "handout", "filename", ""), http.StatusBadRequest},
		{"256 bytes", meta("purpose", "handout", "filename", strings.Repeat("a", 256)), http.StatusBadRequest},
		{"255 bytes", meta("purpose", "handout", "filename", strings.Repeat("a", 255)), http.StatusCreated},
		// The XML writer refuses these when the handout is recorded, after the upload.
		{"control character", meta("purpose", "handout", "filename", "notes\x01.txt"), http.StatusBadRequest},
		{"NUL", meta("purpose", "handout", "filename", "a\x00.txt"), http.StatusBadRequest},
		{"invalid UTF-8", meta("purpose", "handout", "filename", "caf\xe9.txt"), http.StatusBadRequest},
		{"U+FFFE (not an XML character)", meta("purpose", "handout", "filename", "a\uFFFE.txt"), http.StatusBadRequest},
		{"non-ASCII, tab and astral characters", meta("purpose", "handout", "filename", "Übung\t😀.pdf"), http.StatusCreated},
		{"slide without filename", meta("purpose", "slide"), http.StatusCreated},
	}
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(be.objects(t, "uploads/"))
			r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Length": "1000", "Upload-Metadata": tt.md}, nil)
			if r.status != tt.status {
				t.Fatalf("POST: %v, want %d", r, tt.status)
			}
			if tt.status != http.StatusBadRequest {
				return
			}
			if !strings.Contains(string(r.body), "filename") {
				t.Errorf("the 400 does not say what is wrong: %s", r.body)
			}
			if after := len(be.objects(t, "uploads/")); after != before {
				t.Errorf("a refused creation left %d objects", after-before)
			}
		})
	}
}

// TestRefusedCompletionIsFinal: a finished upload whose content the engine refuses
// for good answers the refusal once; the parts and any stored content are removed;
// later HEAD, PATCH and /result answer 410 instead of running the completion again
// (which answered the same refusal for ever); DELETE still terminates it.
func TestRefusedCompletionIsFinal(t *testing.T) {
	data := textData(150_000)
	quota := conference.Limits{MaxContentFile: 200_000, MaxHandoutFile: 200_000, MaxConferenceContent: 200_000,
		MaxConferenceHandouts: 200_000, MaxContentFiles: 10, MaxHandoutFiles: 10}
	tests := []struct {
		name      string
		directMax int64
		limits    *conference.Limits
		// prepare makes the upload at loc one the engine will refuse at completion.
		prepare func(t *testing.T, in *instance, conf, tok, loc string)
		md      string
		status  int
	}{
		{name: "handout name left by an older server, direct", directMax: DefaultDirectMax,
			md: meta("purpose", "handout", "filename", "n.txt"), prepare: dropFilename, status: http.StatusBadRequest},
		{name: "handout name left by an older server, parts", directMax: -1,
			md: meta("purpose", "handout", "filename", "n.txt"), prepare: dropFilename, status: http.StatusBadRequest},
		{name: "conference quota taken meanwhile, parts", directMax: -1, limits: &quota,
			md: meta("filename", "a.txt"), prepare: fillQuota(data), status: http.StatusRequestEntityTooLarge},
		{name: "conference quota taken meanwhile, direct", directMax: DefaultDirectMax, limits: &quota,
			md: meta("filename", "a.txt"), prepare: fillQuota(data), status: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t)
			opts := []instOption{withStream(func(c *Config) { c.DirectMax = tt.directMax })}
			if tt.limits != nil {
				opts = append(opts, withLimits(*tt.limits))
			}
			in := be.start(t, opts...)
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			loc := in.create(conf, tok, int64(len(data)), tt.md)
			id := path.Base(loc)
			tt.prepare(t, in, conf, tok, loc)
			name := in.recordOf(t, conf, id).Name

			if r := in.patch(loc, tok, 0, data); r.status != tt.status {
				t.Fatalf("completing PATCH: %v, want %d", r, tt.status)
			}
			for _, a := range be.objects(t, "") {
				if strings.HasSuffix(a.Key, "/"+name) {
					t.Errorf("the refused content is left: %s", a.Key)
				}
				if strings.HasPrefix(a.Key, uploadPrefix(conf, id)) && !strings.HasSuffix(a.Key, "/"+infoObject) &&
					!strings.HasSuffix(a.Key, "/"+lockObject) {
					t.Errorf("an object of the refused upload is left: %s", a.Key)
				}
			}
			for _, r := range []reply{
				in.do("HEAD", loc, tok, nil, nil),
				in.patch(loc, tok, int64(len(data)), nil),
				in.do("GET", loc+"/result", tok, nil, nil),
			} {
				if r.status != http.StatusGone {
					t.Errorf("after the refusal: %v, want 410", r)
				}
			}
			if r := in.do("DELETE", loc, tok, nil, nil); r.status != http.StatusNoContent {
				t.Fatalf("DELETE: %v", r)
			}
			if r := in.do("HEAD", loc, tok, nil, nil); r.status != http.StatusNotFound {
				t.Errorf("HEAD after DELETE: %v", r)
			}
		})
	}
}

// recordOf loads an upload's record from storage.
func (in *instance) recordOf(t *testing.T, conf, id string) *record {
	t.Helper()
	u, err := in.h.store.load(contextWith(context.Background(), &reqState{conf: conf}), conf, id)
	if err != nil {
		t.Fatal(err)
	}
	return u.rec
}

// dropFilename rewrites an upload's sealed metadata without its file name, as a
// server that did not check it at creation left it.
func dropFilename(t *testing.T, in *instance, conf, _, loc string) {
	t.Helper()
	id := path.Base(loc)
	u, err := in.h.store.load(contextWith(context.Background(), &reqState{conf: conf}), conf, id)
	if err != nil {
		t.Fatal(err)
	}
	delete(u.meta, "filename")
	if u.rec.Secret, err = sealSecret(testUploadKey, secret{Upload: binding(conf, id), Key: u.key.Hex(), Metadata: u.meta, Owner: u.owner}); err != nil {
		t.Fatal(err)
	}
	if err := u.putRecord(context.Background(), storageCond()); err != nil {
		t.Fatal(err)
	}
}

// fillQuota stores content of the same size through the engine first (as another
// instance, or a route that stores content without an upload, can), which leaves too
// little of the conference's quota for the upload at loc (created while there was
// enough). A second upload can no longer do it: unfinished uploads count against the
// quota, so it is refused at creation.
func fillQuota(data []byte) func(t *testing.T, in *instance, conf, tok, loc string) {
	return func(t *testing.T, in *instance, conf, _, _ string) {
		t.Helper()
		if _, err := in.engine.StoreContent(context.Background(), conf, conference.SlideContent, "txt", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("the other content: %v", err)
		}
	}
}
