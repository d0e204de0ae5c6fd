package stream

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// A single PATCH larger than the direct path stores one part that already is the
// content file (header, segments, final segment). On a backend that can rename, the
// engine adopts it: the bytes are written once. Elsewhere they are copied, with the
// same result for the client.
func TestOnePatchUploadWrittenOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		backend   func(testing.TB) *backend
		wantMoved bool
	}{
		{"rename", newBackend, true},
		{"copy", newBackendWithoutMove, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := tc.backend(t)
			in := be.start(t, withStream(func(c *Config) { c.DirectMax = 64 << 10 }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(3<<20 + 4321)
			cipherSize, err := encryption.CiphertextSize(int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			loc := in.create(conf, tok, int64(len(data)), meta("filename", "talk.pdf"))
			before, _ := be.rec.written()
			last := in.patch(loc, tok, 0, data)
			if last.status != http.StatusNoContent {
				t.Fatal(last)
			}
			res := resultFromHeaders(t, last)
			in.checkContent(conf, res, data)
			after, moves := be.rec.written()
			written := after - before
			contentMoved := len(moves) == 1 && strings.HasSuffix(moves[0], "/"+res.Name)
			if contentMoved != tc.wantMoved {
				t.Fatalf("moves %v, want a move into the content file: %v", moves, tc.wantMoved)
			}
			// Besides the content's bytes only small objects (record, lock) are written.
			if tc.wantMoved && written > cipherSize+64<<10 {
				t.Fatalf("wrote %d bytes for %d bytes of ciphertext: the upload was written twice", written, cipherSize)
			}
			if !tc.wantMoved && written < 2*cipherSize {
				t.Fatalf("wrote %d bytes for %d bytes of ciphertext without a rename: expected a part and a copy", written, cipherSize)
			}
			if objs := be.objects(t, uploadPrefix(conf, loc[strings.LastIndexByte(loc, '/')+1:])); len(objs) != 1 {
				t.Fatalf("left in the upload's folder: %v (want only its record)", objs)
			}
			be.noPlaintext(t, "lectern-plaintext-line")
		})
	}
}

// A crash after the part was renamed into the content file but before the record
// said done: the next request finds the content in place and completes the upload. A
// handout was already added then: the retry answers with that handout instead of
// adding a second one on the same blob.
func TestAdoptedBeforeCrashIsRecognised(t *testing.T) {
	for _, purpose := range []string{"slide", "handout"} {
		t.Run(purpose, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t, withStream(func(c *Config) { c.DirectMax = -1 }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(700_000)
			loc := in.create(conf, tok, int64(len(data)), meta("filename", "talk.pdf", "purpose", purpose))
			id := loc[strings.LastIndexByte(loc, '/')+1:]
			infoKey := uploadPrefix(conf, id) + infoObject

			// Fail every record write once the part has been renamed: the PATCH stores
			// the data, the rename (and the handout) happen, but the record never says
			// done.
			var failed atomic.Int32
			be.rec.mu.Lock()
			be.rec.failPut = func(key string) error {
				if _, moves := be.rec.written(); key == infoKey && len(moves) > 0 {
					failed.Add(1)
					return storage.NewError(storage.ErrUnavailable, "put", key, errors.New("injected"))
				}
				return nil
			}
			be.rec.mu.Unlock()
			r := in.patch(loc, tok, 0, data)
			if r.status < 500 {
				t.Fatalf("the PATCH whose completion could not be recorded answered %v", r)
			}
			if _, moves := be.rec.written(); len(moves) != 1 || failed.Load() == 0 {
				t.Fatalf("moves %v, failed record writes %d: want the part renamed into the content and the record write failed", moves, failed.Load())
			}
			if parts := be.objects(t, uploadPrefix(conf, id)+partPrefix); len(parts) != 0 {
				t.Fatalf("parts left after the rename: %v", parts)
			}
			handoutsBefore, err := in.engine.ListHandouts(t.Context(), conf)
			if err != nil {
				t.Fatal(err)
			}

			// The storage works again, and a restarted server picks the upload up.
			be.rec.mu.Lock()
			be.rec.failPut = nil
			be.rec.mu.Unlock()
			in.stop()
			in = be.start(t, withStream(func(c *Config) { c.DirectMax = -1 }))
			if off := in.offset(loc, tok); off != int64(len(data)) {
				t.Fatalf("offset after the crash %d, want %d (complete)", off, len(data))
			}
			res := in.do("GET", loc+"/result", tok, nil, nil)
			if res.status != http.StatusOK {
				t.Fatalf("/result: %v", res)
			}
			var got Result
			if err := json.Unmarshal(res.body, &got); err != nil {
				t.Fatal(err)
			}
			in.checkContent(conf, got, data)
			handouts, err := in.engine.ListHandouts(t.Context(), conf)
			if err != nil {
				t.Fatal(err)
			}
			if purpose == "slide" {
				if len(handouts) != 0 || got.Handout != "" {
					t.Fatalf("a slide upload made handouts %v (result %+v)", handouts, got)
				}
				return
			}
			if len(handoutsBefore) != 1 || len(handouts) != 1 || got.Handout != handouts[0].ID {
				t.Fatalf("handouts before the retry %d, after %d, result's %q: want the one handout added before the crash", len(handoutsBefore), len(handouts), got.Handout)
			}
		})
	}
}
