package stream

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi"
)

// TestRacingPatchesOfOneUpload: two clients send different bytes for the same range
// of one upload at the same moment (a client retrying while its first request is
// still running, or two devices of one presenter), through one instance or through
// two sharing the storage. At most one request is stored, no answer is a server
// error, and the upload, finished from the offset the server then gives, holds one
// client's bytes alone, never a mixture.
func TestRacingPatchesOfOneUpload(t *testing.T) { forEachMode(t, testRacingPatches) }

func testRacingPatches(t *testing.T, newBackend func(testing.TB) *backend) {
	for _, tc := range []struct {
		name      string
		instances int
		whole     bool // the racing requests carry the whole upload, else its first half
		checksum  bool // with Upload-Checksum (a stopped body must not be called a mismatch)
	}{
		{"one instance, whole upload", 1, true, false},
		{"two instances, whole upload", 2, true, false},
		{"one instance, first half", 1, false, false},
		{"two instances, first half", 2, false, false},
		{"one instance, whole upload, checksums", 1, true, true},
		{"one instance, first half, checksums", 1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			insts := []*instance{be.start(t)}
			if tc.instances == 2 {
				insts = append(insts, be.start(t))
			}
			conf := insts[0].conference("race")
			tok := insts[0].token(httpapi.RolePresenter, conf, "alice")
			const size = 3 << 20
			loc := insts[0].create(conf, tok, size, meta("filename", "race.pdf"))
			datas := make([][]byte, 2)
			for i := range datas {
				datas[i] = make([]byte, size)
				rand.Read(datas[i])
			}
			sent := size
			if !tc.whole {
				sent = size / 2
			}

			var wg sync.WaitGroup
			start := make(chan struct{})
			replies := make([]rawReply, 2)
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					var hdr []string
					if tc.checksum {
						hdr = []string{"Upload-Checksum", "sha1 " + sha1B64(datas[i][:sent])}
					}
					replies[i] = rawPatch(insts[i%len(insts)], loc, tok, 0, datas[i][:sent], hdr...)
				}()
			}
			close(start)
			wg.Wait()

			// tusd lets a newer request for an upload stop the one running (a client
			// that retries after a stalled connection must not wait for it): the
			// stopped request answers 400 ERR_UPLOAD_INTERRUPTED, keeping what it
			// stored. The other is refused (409, 423) or stored. Never both.
			winner, interrupted := -1, -1
			for i, r := range replies {
				switch {
				case r.err != nil:
					t.Fatalf("client %d: %v", i, r.err)
				case r.status == http.StatusNoContent && winner >= 0:
					t.Fatal("both racing PATCHes were stored")
				case r.status == http.StatusNoContent:
					winner = i
				case r.status == http.StatusBadRequest && bytes.Contains(r.body, []byte("interrupted by another request")):
					interrupted = i
				case r.status != http.StatusLocked && r.status != http.StatusConflict:
					t.Fatalf("client %d: %d %s, want 204, 400 (interrupted), 409 or 423", i, r.status, r.body)
				}
			}
			t.Logf("answers: %d, %d", replies[0].status, replies[1].status)
			// Whose bytes the upload holds: the stored request's, else the stopped
			// one's (as far as it got), else nobody's yet.
			owner := 0
			switch {
			case winner >= 0:
				owner = winner
			case interrupted >= 0:
				owner = interrupted
			}
			want := datas[owner]
			var last reply
			if winner >= 0 && tc.whole {
				last = reply{status: replies[winner].status, header: replies[winner].header}
			} else {
				off := insts[0].offset(loc, tok)
				if winner >= 0 && off != int64(sent) || off > int64(sent) {
					t.Fatalf("offset after the race %d, want %d", off, sent)
				}
				last = insts[0].patch(loc, tok, off, want[off:])
				if last.status != http.StatusNoContent {
					t.Fatalf("finishing the upload from %d: %v", off, last)
				}
			}
			insts[0].checkContent(conf, resultFromHeaders(t, last), want)
		})
	}
}

type rawReply struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// rawPatch is instance.patch for any goroutine: it reports failures instead of
// ending the test.
func rawPatch(in *instance, loc, tok string, offset int64, data []byte, hdr ...string) rawReply {
	return rawPatchFrom(in, loc, tok, offset, bytes.NewReader(data), int64(len(data)), hdr...)
}

// rawPatchFrom is rawPatch with a body streamed from r, announced as size bytes.
func rawPatchFrom(in *instance, loc, tok string, offset int64, r io.Reader, size int64, hdr ...string) rawReply {
	req, err := http.NewRequest("PATCH", in.srv.URL+loc, r)
	if err != nil {
		return rawReply{err: err}
	}
	req.ContentLength = size
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return rawReply{err: fmt.Errorf("PATCH: %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawReply{status: resp.StatusCode, header: resp.Header, body: body, err: err}
}

// TestTerminationDuringPatch: a DELETE arrives while a PATCH of the same upload is
// streaming (a presenter cancels from another tab), through the same or another
// instance. No answer is a server error, and the storage ends consistent: either the
// upload is gone with nothing of it left, or the PATCH finished first and its content
// is stored whole.
func TestTerminationDuringPatch(t *testing.T) { forEachMode(t, testTerminationDuringPatch) }

func testTerminationDuringPatch(t *testing.T, newBackend func(testing.TB) *backend) {
	for _, instances := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d instances", instances), func(t *testing.T) {
			be := newBackend(t)
			insts := []*instance{be.start(t)}
			if instances == 2 {
				insts = append(insts, be.start(t))
			}
			conf := insts[0].conference("cancel")
			tok := insts[0].token(httpapi.RolePresenter, conf, "alice")
			const size = 3 << 20
			data := make([]byte, size)
			rand.Read(data)
			loc := insts[0].create(conf, tok, size, meta("filename", "cancel.pdf"))

			body, feed := io.Pipe()
			patched := make(chan rawReply, 1)
			go func() { patched <- rawPatchFrom(insts[0], loc, tok, 0, body, size) }()
			if _, err := feed.Write(data[:1<<20]); err != nil {
				t.Fatal(err)
			}
			deleted := make(chan rawReply, 1)
			go func() {
				req, _ := http.NewRequest("DELETE", insts[len(insts)-1].srv.URL+loc, nil)
				req.Header.Set("Tus-Resumable", "1.0.0")
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := insts[len(insts)-1].client.Do(req)
				if err != nil {
					deleted <- rawReply{err: err}
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				deleted <- rawReply{status: resp.StatusCode, body: b}
			}()
			// The rest of the body, unless the server stopped reading it.
			go func() {
				_, _ = feed.Write(data[1<<20:])
				feed.Close()
			}()
			p, d := <-patched, <-deleted
			body.CloseWithError(io.ErrClosedPipe)
			if p.err != nil || d.err != nil {
				t.Fatalf("PATCH: %v; DELETE: %v", p.err, d.err)
			}
			t.Logf("PATCH %d, DELETE %d", p.status, d.status)
			if p.status >= 500 || d.status >= 500 {
				t.Fatalf("server error: PATCH %d %s; DELETE %d %s", p.status, p.body, d.status, d.body)
			}
			finished := p.status == http.StatusNoContent
			switch d.status {
			case http.StatusNoContent: // terminated
				if r := insts[0].do("HEAD", loc, tok, nil, nil); r.status != http.StatusNotFound {
					t.Fatalf("HEAD after a DELETE that succeeded: %v", r)
				}
				if objs := be.objects(t, uploadPrefix(conf, loc[strings.LastIndexByte(loc, '/')+1:])); len(objs) != 0 {
					t.Fatalf("the terminated upload left %v", objs)
				}
			case http.StatusLocked, http.StatusConflict, http.StatusNotFound:
				if !finished {
					t.Fatalf("the DELETE was refused (%d) and the PATCH did not finish (%d %s)", d.status, p.status, p.body)
				}
			default:
				t.Fatalf("DELETE: %d %s", d.status, d.body)
			}
			if finished {
				insts[0].checkContent(conf, resultFromHeaders(t, reply{status: p.status, header: p.header}), data)
			}
		})
	}
}

// TestConferenceDeletedDuringPatch: the conference is deleted while a PATCH of one of
// its uploads is streaming. The PATCH is refused or ends (no server error), and once
// it has, nothing of the conference is left in the storage: no upload parts, no
// content file, which no sweep would ever find again.
func TestConferenceDeletedDuringPatch(t *testing.T) {
	forEachMode(t, func(t *testing.T, newBackend func(testing.TB) *backend) {
		for _, tc := range []struct {
			size  int // 3 MiB: the direct path; 40 MiB: parts
			stall bool
		}{{3 << 20, false}, {40 << 20, false}, {3 << 20, true}, {40 << 20, true}} {
			size := tc.size
			name := fmt.Sprintf("%d MiB", size>>20)
			if tc.stall {
				// The client sends nothing more after the deletion: the request ends
				// only when the instance finds its lease gone (the deletion removed
				// it) and tusd stops the request. What it stored until then must go
				// too (it stayed: go test -race hit this now and then).
				name += ", client stalls"
			}
			t.Run(name, func(t *testing.T) {
				be := newBackend(t)
				in := be.start(t)
				conf := in.conference("doomed")
				tok := in.token(httpapi.RolePresenter, conf, "alice")
				data := make([]byte, size)
				rand.Read(data)
				loc := in.create(conf, tok, int64(size), meta("filename", "doomed.pdf"))

				body, feed := io.Pipe()
				patched := make(chan rawReply, 1)
				go func() { patched <- rawPatchFrom(in, loc, tok, 0, body, int64(size)) }()
				if _, err := feed.Write(data[:1<<20]); err != nil {
					t.Fatal(err)
				}
				if err := in.engine.DeleteConference(t.Context(), conf); err != nil {
					t.Fatalf("DeleteConference: %v", err)
				}
				if !tc.stall {
					go func() {
						_, _ = feed.Write(data[1<<20:])
						feed.Close()
					}()
				}
				p := <-patched
				body.CloseWithError(io.ErrClosedPipe)
				if p.err != nil {
					t.Fatal(p.err)
				}
				t.Logf("PATCH after the conference was deleted: %d %s", p.status, bytes.TrimSpace(p.body))
				if p.status >= 500 {
					t.Fatalf("server error: %d %s", p.status, p.body)
				}
				for _, prefix := range []string{"uploads/" + conf + "/", "content/"} {
					if objs := be.objects(t, prefix); len(objs) != 0 {
						t.Errorf("the deleted conference left %d objects under %s, e.g. %s", len(objs), prefix, objs[0].Key)
					}
				}
			})
		}
	})
}

// TestQuotaHoldsUnderConcurrentUploads: six uploads of 2 MB each finish at the same
// time in a conference with room for 5 MB. The quota holds however they interleave:
// at most two are stored, the rest are refused with 413 (at creation or when they
// store), and the conference's content adds up to no more than its limit.
func TestQuotaHoldsUnderConcurrentUploads(t *testing.T) {
	forEachMode(t, func(t *testing.T, newBackend func(testing.TB) *backend) {
		be := newBackend(t)
		lim := conference.DefaultLimits()
		lim.MaxConferenceContent = 5_000_000
		in := be.start(t, withLimits(lim))
		conf := in.conference("quota")
		tok := in.token(httpapi.RolePresenter, conf, "alice")
		const uploads, size = 6, 2_000_000
		var wg sync.WaitGroup
		replies := make([]rawReply, uploads)
		start := make(chan struct{})
		for i := range uploads {
			data := make([]byte, size)
			rand.Read(data)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest("POST", in.srv.URL+"/v1/conferences/"+conf+"/uploads", nil)
				req.Header.Set("Tus-Resumable", "1.0.0")
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Upload-Length", strconv.Itoa(size))
				resp, err := in.client.Do(req)
				if err != nil {
					replies[i] = rawReply{err: err}
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					replies[i] = rawReply{status: resp.StatusCode}
					return
				}
				loc := resp.Header.Get("Location")
				loc = loc[strings.Index(loc, "/v1/"):]
				// Two PATCHes, so that the last one stores while the others do.
				if r := rawPatch(in, loc, tok, 0, data[:size/2]); r.err != nil || r.status != http.StatusNoContent {
					replies[i] = r
					return
				}
				replies[i] = rawPatch(in, loc, tok, size/2, data[size/2:])
			}()
		}
		close(start)
		wg.Wait()
		stored := 0
		for i, r := range replies {
			switch {
			case r.err != nil:
				t.Fatalf("upload %d: %v", i, r.err)
			case r.status == http.StatusNoContent:
				stored++
			case r.status != http.StatusRequestEntityTooLarge:
				t.Fatalf("upload %d: %d %s, want 204 or 413", i, r.status, r.body)
			}
		}
		var total int64
		for _, o := range be.objects(t, "content/") {
			total += o.Size
		}
		t.Logf("%d of %d uploads stored, %d bytes of content", stored, uploads, total)
		if stored > 2 || total > lim.MaxConferenceContent+int64(stored)*(64<<10) {
			t.Fatalf("%d uploads stored (%d bytes): the 5 MB quota did not hold", stored, total)
		}
		if stored == 0 {
			t.Fatal("no upload was stored, though two fit")
		}
	})
}
