package stream

import (
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi"
)

// TestUnfinishedUploadsCountAgainstTheQuota: the engine charges an upload to its
// conference's quota only when it completes, so unfinished uploads are counted at
// every creation, length declaration and deferred-length PATCH: the declared lengths
// (or bytes received, while a length is deferred) of the conference's unfinished
// uploads plus its stored content never exceed the quota. Before, each creation was
// checked against the whole remaining quota alone, and N uploads each one byte short
// of complete stored N times the quota until they expired.
func TestUnfinishedUploadsCountAgainstTheQuota(t *testing.T) {
	const q = 64 << 10
	limits := conference.Limits{MaxContentFile: q, MaxHandoutFile: q, MaxConferenceContent: q,
		MaxConferenceHandouts: q, MaxContentFiles: 100, MaxHandoutFiles: 100}
	type env struct {
		t    *testing.T
		be   *backend
		in   *instance
		conf string
		tok  string
	}
	post := func(e *env, size int64, md string) reply {
		e.t.Helper()
		hdr := map[string]string{"Upload-Metadata": md}
		if size < 0 {
			hdr["Upload-Defer-Length"] = "1"
		} else {
			hdr["Upload-Length"] = strconv.FormatInt(size, 10)
		}
		return e.in.do("POST", "/v1/conferences/"+e.conf+"/uploads", e.tok, hdr, nil)
	}
	created := func(e *env, size int64, md string) string {
		e.t.Helper()
		r := post(e, size, md)
		if r.status != http.StatusCreated {
			e.t.Fatalf("creating a %d-byte upload: %v", size, r)
		}
		return locationPath(e.t, r)
	}
	refused := func(e *env, r reply, why string) {
		e.t.Helper()
		if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), "too_large") ||
			!strings.Contains(string(r.body), why) {
			e.t.Fatalf("want 413 too_large saying %q: %v", why, r)
		}
	}
	patched := func(e *env, loc string, off int64, n int) {
		e.t.Helper()
		if r := e.in.patch(loc, e.tok, off, textData(n)); r.status != http.StatusNoContent {
			e.t.Fatalf("PATCH of %d bytes at %d: %v", n, off, r)
		}
	}
	slide, handout := meta("filename", "a.pdf"), meta("filename", "h.pdf", "purpose", "handout")
	tests := []struct {
		name string
		opts []instOption
		run  func(e *env)
	}{
		{"uploads one byte short of complete", nil, func(e *env) {
			a := created(e, q, slide)
			patched(e, a, 0, q-1)
			refused(e, post(e, q, slide), "unfinished uploads")
			refused(e, post(e, 1, slide), "unfinished uploads")
			if r := e.in.do("DELETE", a, e.tok, nil, nil); r.status != http.StatusNoContent {
				e.t.Fatalf("DELETE: %v", r)
			}
			created(e, q, slide) // termination gave the room back
		}},
		{"declared lengths add up", nil, func(e *env) {
			created(e, q/2, slide)
			created(e, q/2, slide)
			refused(e, post(e, 1, slide), "unfinished uploads")
			refused(e, post(e, -1, slide), "") // a deferred one has no room either
		}},
		{"stored content and unfinished uploads add up", nil, func(e *env) {
			a := created(e, q/2, slide)
			patched(e, a, 0, q/2) // complete: now stored content
			created(e, q/4, slide)
			refused(e, post(e, q/4+1, slide), "unfinished uploads")
			created(e, q/4, slide)
		}},
		{"bytes a deferred-length upload received", nil, func(e *env) {
			d := created(e, -1, slide)
			patched(e, d, 0, q/2)
			refused(e, post(e, q/2+1024, slide), "unfinished uploads") // its parts hold a little more than q/2
			created(e, q/4, slide)
		}},
		{"a deferred-length PATCH counts the others", nil, func(e *env) {
			created(e, q/2, slide)
			d := created(e, -1, slide)
			patched(e, d, 0, q/4)
			r := e.in.patch(d, e.tok, q/4, textData(q/4+1))
			refused(e, r, "unfinished uploads")
		}},
		{"a declared length counts the others", nil, func(e *env) {
			created(e, q/2, slide)
			d := created(e, -1, slide)
			r := e.in.patch(d, e.tok, 0, textData(10), "Upload-Length", strconv.Itoa(q/2+1))
			refused(e, r, "unfinished uploads")
		}},
		{"content and handouts have their own quotas", nil, func(e *env) {
			created(e, q, slide)
			created(e, q, handout)
			refused(e, post(e, 1, handout), "unfinished uploads")
		}},
		{"expired uploads no longer count", nil, func(e *env) {
			created(e, q, slide)
			refused(e, post(e, 1, slide), "unfinished uploads")
			e.be.clock.Advance(DefaultExpiry)
			created(e, q, slide)
		}},
		{"expired uploads lose their bytes when they stop counting", nil, func(e *env) {
			a := created(e, q, slide)
			e.be.clock.Advance(DefaultExpiry - time.Minute)
			patched(e, a, 0, q-1) // its parts are a minute old at its expiry
			e.be.clock.Advance(time.Minute + expiredRemovalMargin + time.Second)
			created(e, q, slide) // counts a no more
			prefix := uploadPrefix(e.conf, path.Base(a))
			if left := e.be.objects(e.t, prefix); len(left) != 0 {
				e.t.Fatalf("the expired upload, no longer counted, still holds %d objects under %s", len(left), prefix)
			}
		}},
		{"counted after a restart", nil, func(e *env) {
			created(e, q, slide)
			e.in.stop()
			e.in = e.be.start(e.t, withLimits(limits))
			refused(e, post(e, 1, slide), "unfinished uploads")
		}},
		{"finished records are read once", nil, func(e *env) {
			var done []string
			for range 3 {
				loc := created(e, 10, slide)
				patched(e, loc, 0, 10) // complete: its record stays until it expires
				done = append(done, uploadPrefix(e.conf, path.Base(loc))+infoObject)
			}
			created(e, 10, slide) // reads the finished records, and remembers them
			before := make([]int, len(done))
			for i, k := range done {
				before[i] = e.be.rec.readsOf(k)
			}
			created(e, 10, slide)
			for i, k := range done {
				if n := e.be.rec.readsOf(k) - before[i]; n != 0 {
					e.t.Errorf("the finished record %s was read %d more times", k, n)
				}
			}
		}},
		{"entries of idle conferences are dropped", nil, func(e *env) {
			entries := func() int {
				e.t.Helper()
				s := e.in.h.store
				s.quotaMu.Lock()
				defer s.quotaMu.Unlock()
				return len(s.quotas)
			}
			loc := created(e, 10, slide)
			patched(e, loc, 0, 10)
			created(e, 10, slide) // remembers loc as finished
			if n := entries(); n != 1 {
				e.t.Fatalf("%d quota entries remembering finished uploads, want 1", n)
			}
			if err := e.in.engine.DeleteConference(e.t.Context(), e.conf); err != nil {
				e.t.Fatal(err)
			}
			e.be.clock.Advance(quotaIdleAge)
			other := e.in.conference("conf-b")
			e.in.create(other, e.in.token(httpapi.RolePresenter, other, "bob"), 10, slide)
			if n := entries(); n != 0 {
				e.t.Fatalf("%d quota entries held after their conferences were idle %v (one deleted)", n, quotaIdleAge)
			}
		}},
		{"too large alone", nil, func(e *env) {
			a := created(e, q/2, slide)
			patched(e, a, 0, q/2) // complete: now stored content
			created(e, 10, slide)
			r := post(e, q/2+1, slide) // over the room left without the unfinished upload
			refused(e, r, "")
			if strings.Contains(string(r.body), "unfinished uploads") {
				e.t.Fatalf("a length over the quota left by stored content alone is blamed on unfinished uploads: %v", r)
			}
		}},
		{"open uploads per conference", []instOption{withStream(func(c *Config) { c.MaxOpenUploads = 3 })}, func(e *env) {
			var locs []string
			for range 3 {
				locs = append(locs, created(e, 10, slide))
			}
			refused(e, post(e, 10, slide), "3 unfinished uploads, and at most 3 are allowed")
			patched(e, locs[0], 0, 10)      // complete
			locs[0] = created(e, 10, slide) // a completed upload is no longer open
			refused(e, post(e, 10, slide), "unfinished uploads")
			if r := e.in.do("DELETE", locs[1], e.tok, nil, nil); r.status != http.StatusNoContent {
				e.t.Fatalf("DELETE: %v", r)
			}
			created(e, 10, slide)
			// Restarted with a lower cap, the message gives both numbers.
			e.in.stop()
			e.in = e.be.start(e.t, withLimits(limits), withStream(func(c *Config) { c.MaxOpenUploads = 2 }))
			refused(e, post(e, 10, slide), "3 unfinished uploads, and at most 2 are allowed")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t, append([]instOption{withLimits(limits)}, tt.opts...)...)
			conf := in.conference("conf-a")
			e := &env{t: t, be: be, in: in, conf: conf, tok: in.token(httpapi.RolePresenter, conf, "alice")}
			tt.run(e)
			var held int64
			for _, a := range be.objects(t, "uploads/"+conf+"/") {
				held += a.Size
			}
			t.Logf("unfinished uploads hold %d bytes of a %d-byte quota", held, q)
		})
	}
}

// TestDeferredPatchCountsUploadsMadeWhileItRuns: a deferred-length PATCH reads the
// conference's unfinished uploads when it begins; a creation or a length declaration
// made while it runs counts the PATCH's bytes so far, and the PATCH must count it in
// turn. Before, the PATCH compared against what it read when it began only, and it and
// an upload created meanwhile together held up to twice the quota.
func TestDeferredPatchCountsUploadsMadeWhileItRuns(t *testing.T) {
	const q = 256 << 10
	const first = 1000 // the PATCH's bytes before the other upload is made
	limits := conference.Limits{MaxContentFile: q, MaxHandoutFile: q, MaxConferenceContent: q,
		MaxConferenceHandouts: q, MaxContentFiles: 100, MaxHandoutFiles: 100}
	slide := meta("filename", "a.pdf")
	deferred := func(in *instance, conf, tok string) string {
		in.t.Helper()
		r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": slide}, nil)
		if r.status != http.StatusCreated {
			in.t.Fatalf("creating a deferred-length upload: %v", r)
		}
		return locationPath(in.t, r)
	}
	tests := []struct {
		name string
		// before runs before the PATCH begins; during, once it holds first bytes,
		// makes an upload of q-first bytes and returns its path.
		before func(in *instance, conf, tok string) string
		during func(t *testing.T, in *instance, conf, tok, before string) string
	}{
		{"an upload created", nil, func(t *testing.T, in *instance, conf, tok, _ string) string {
			r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Length": strconv.Itoa(q - first), "Upload-Metadata": slide}, nil)
			if r.status != http.StatusCreated {
				t.Fatalf("creating an upload of the quota left: %v", r)
			}
			return locationPath(t, r)
		}},
		{"a length declared", deferred, func(t *testing.T, in *instance, conf, tok, other string) string {
			if r := in.patch(other, tok, 0, nil, "Upload-Length", strconv.Itoa(q-first)); r.status != http.StatusNoContent {
				t.Fatalf("declaring the quota left: %v", r)
			}
			return other
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached := make(chan struct{})
			var once sync.Once
			be := newBackend(t)
			in := be.start(t, withLimits(limits), withStream(func(c *Config) {
				c.capRead = func(_ string, held int64) {
					if held >= first {
						once.Do(func() { close(reached) })
					}
				}
			}))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			var before string
			if tt.before != nil {
				before = tt.before(in, conf, tok)
			}
			d := deferred(in, conf, tok)

			pr, pw := io.Pipe()
			t.Cleanup(func() { pr.Close() })
			patched := make(chan reply, 1)
			go func() { patched <- in.doReader("PATCH", d, tok, patchHeaders(0, nil), pr) }()
			data := textData(q)
			if _, err := pw.Write(data[:first]); err != nil {
				t.Fatal(err)
			}
			<-reached // the PATCH holds its first bytes
			other := tt.during(t, in, conf, tok, before)
			go func() {
				// Cut by the server, the body is not read to its end; the close
				// below ends this write then.
				if _, err := pw.Write(data[first:]); err == nil {
					pw.Close()
				}
			}()
			r := <-patched
			pr.Close()
			if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), "unfinished uploads") {
				t.Errorf("the deferred-length PATCH past the quota left: want 413 counting unfinished uploads, got %v", r)
			}
			if got := in.offset(d, tok); got+(q-first) > q {
				t.Fatalf("the deferred-length upload holds %d bytes and %s holds %d: %d, over the %d-byte quota", got, other, q-first, got+q-first, q)
			}
		})
	}
}
