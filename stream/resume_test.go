package stream

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// TestResumeAfterRestart stops the server in the middle of an upload and finishes it
// with a new process's worth of objects (engine, store, handler, listener) over the
// same storage.
func TestResumeAfterRestart(t *testing.T) { forEachMode(t, testResumeAfterRestart) }

func testResumeAfterRestart(t *testing.T, newBackend func(testing.TB) *backend) {
	be := newBackend(t)
	a := be.start(t)
	conf := a.conference("conf-a")
	tok := a.token(httpapi.RolePresenter, conf, "alice")
	data := textData(600_000)
	loc := a.create(conf, tok, int64(len(data)), meta("filename", "talk.pdf"))
	a.sendAll(loc, tok, data[:250_001], 0, 100_000, 33_333)
	a.stop()

	b := be.start(t)
	if got := b.offset(loc, tok); got != 250_001 {
		t.Fatalf("offset after restart %d, want 250001", got)
	}
	last := b.sendAll(loc, tok, data, 250_001, 120_000)
	b.checkContent(conf, resultFromHeaders(t, last), data)
	be.noPlaintext(t, "lectern-plaintext-line")
}

// TestTwoInstances alternates the PATCHes of one upload between two servers sharing
// the storage, and runs uploads on both at once.
func TestTwoInstances(t *testing.T) { forEachMode(t, testTwoInstances) }

func testTwoInstances(t *testing.T, newBackend func(testing.TB) *backend) {
	be := newBackend(t)
	a, b := be.start(t), be.start(t)
	conf := a.conference("conf-a")
	tok := a.token(httpapi.RolePresenter, conf, "alice")
	data := textData(400_000)
	loc := a.create(conf, tok, int64(len(data)), meta("filename", "x.pdf"))
	var last reply
	off := 0
	for i := 0; off < len(data); i++ {
		in := []*instance{a, b}[i%2]
		if got := in.offset(loc, tok); got != int64(off) {
			t.Fatalf("instance %d sees offset %d, want %d", i%2, got, off)
		}
		end := min(off+77_777, len(data))
		last = in.patch(loc, tok, int64(off), data[off:end])
		if last.status != http.StatusNoContent {
			t.Fatalf("PATCH on instance %d: %v", i%2, last)
		}
		off = end
	}
	b.checkContent(conf, resultFromHeaders(t, last), data)
}

// TestConcurrentUploads runs several uploads at once, on two instances, each in
// several chunks, and checks every result.
func TestConcurrentUploads(t *testing.T) { forEachMode(t, testConcurrentUploads) }

func testConcurrentUploads(t *testing.T, newBackend func(testing.TB) *backend) {
	be := newBackend(t)
	insts := []*instance{be.start(t), be.start(t)}
	conf := insts[0].conference("conf-a")
	tok := insts[0].token(httpapi.RolePresenter, conf, "alice")
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := insts[i%2]
			data := make([]byte, 150_000+i*10_007)
			rand.Read(data)
			r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Length": fmt.Sprint(len(data))}, nil)
			if r.status != http.StatusCreated {
				errs <- fmt.Errorf("create: %v", r)
				return
			}
			loc := locationPath(t, r)
			var last reply
			for off := 0; off < len(data); off += 40_000 {
				last = in.patch(loc, tok, int64(off), data[off:min(off+40_000, len(data))])
				if last.status != http.StatusNoContent {
					errs <- fmt.Errorf("PATCH: %v", last)
					return
				}
			}
			res := Result{Name: last.header.Get(HeaderContentName), Key: last.header.Get(HeaderContentKey)}
			key, err := encryption.ParseKey(res.Key)
			if err != nil {
				errs <- err
				return
			}
			rc, _, err := in.engine.OpenContent(context.Background(), conf, res.Name, key, 0, -1)
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				errs <- fmt.Errorf("upload %d: content differs (%v)", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestInterruptedPatch cuts a PATCH's connection in the middle of its body. Through
// parts, what the server received is kept (whole segments and the sealed tail), the
// client learns the offset with HEAD and sends the rest. Through the direct path
// (a small upload in one PATCH) nothing is kept and the client starts again at 0.
func TestInterruptedPatch(t *testing.T) { forEachMode(t, testInterruptedPatch) }

func testInterruptedPatch(t *testing.T, newBackend func(testing.TB) *backend) {
	cases := []struct {
		name      string
		directMax int64
		want      int64
	}{
		{"parts", -1, 300_123},
		{"direct", 1 << 20, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t, withStream(func(c *Config) { c.DirectMax = tc.directMax }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(500_000)
			loc := in.create(conf, tok, int64(len(data)), meta("filename", "x.pdf"))
			const sent = 300_123
			cutPatch(t, in, loc, tok, data, sent)

			// Wait, through storage only (a HEAD would take the lock and interrupt the
			// PATCH), until the PATCH has taken and released its lock: the server has
			// then seen the cut and stored what it got.
			waitReleased(t, be, loc)
			if off := in.offset(loc, tok); off != tc.want {
				t.Fatalf("offset after the cut %d, want %d", off, tc.want)
			}
			if tc.want == 0 {
				if cs, err := in.engine.ListContent(t.Context(), conf); err != nil || len(cs) != 0 {
					t.Fatalf("a cut direct upload left content: %v %v", cs, err)
				}
			}
			be.noPlaintext(t, "lectern-plaintext-line")
			last := in.sendAll(loc, tok, data, tc.want, 1<<20)
			in.checkContent(conf, resultFromHeaders(t, last), data)
		})
	}
}

// cutPatch sends a PATCH announcing all of data but closes the connection after sent
// bytes.
func cutPatch(t *testing.T, in *instance, loc, tok string, data []byte, sent int) {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(in.srv.URL, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n", loc, tok, len(data))
	if _, err := conn.Write(data[:sent]); err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// waitReleased waits until the upload's lock has been taken and released.
func waitReleased(t *testing.T, be *backend, loc string) {
	t.Helper()
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	conf := strings.Split(strings.TrimPrefix(loc, "/v1/conferences/"), "/")[0]
	key := uploadPrefix(conf, id) + lockObject
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(be.rec.putKeys(key)) == 0 {
			continue
		}
		if _, err := be.bucket.Stat(t.Context(), key); errors.Is(err, storage.ErrNotFound) {
			return
		}
	}
	t.Fatal("the cut PATCH never released its lock")
}

// TestStaleTail simulates a crash between storing a part and replacing the tail: the
// tail then names fewer segments than the parts hold, is ignored, and the offset is
// the end of the parts, never earlier (no stored segment is written twice).
func TestStaleTail(t *testing.T) { forEachMode(t, testStaleTail) }

func testStaleTail(t *testing.T, newBackend func(testing.TB) *backend) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(400_000)
	loc := in.create(conf, tok, int64(len(data)), "")
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	tailKey := uploadPrefix(conf, id) + tailObject

	in.sendAll(loc, tok, data[:1000], 0, 1000) // tail only
	old, _, err := be.bucket.ReadAll(t.Context(), tailKey)
	if err != nil {
		t.Fatal(err)
	}
	in.sendAll(loc, tok, data[:250_000], 1000, 200_000) // a part and a new tail
	// Put the old tail back, as if the last request died after its part.
	if _, err := be.bucket.PutBytes(t.Context(), tailKey, old, storageCond()); err != nil {
		t.Fatal(err)
	}
	off := in.offset(loc, tok)
	segEnd := segmentsEnd(t, in, conf, id)
	if off != segEnd || off <= 1000 {
		t.Fatalf("offset %d with a stale tail, want the end of the parts %d", off, segEnd)
	}
	last := in.sendAll(loc, tok, data, off, 150_000)
	in.checkContent(conf, resultFromHeaders(t, last), data)
}

// TestAuthorization: only presenters and admins of the conference, and never another
// conference's upload.
func TestAuthorization(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	other := in.conference("conf-b")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	loc := in.create(conf, tok, 10, "")
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	admin, _, err := be.auth.Mint(httpapi.TokenSpec{Role: httpapi.RoleAdmin, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		method string
		path   string
		token  string
		want   int
	}{
		{"no token", "POST", "/v1/conferences/" + conf + "/uploads", "", http.StatusUnauthorized},
		{"attendee creates", "POST", "/v1/conferences/" + conf + "/uploads", in.token(httpapi.RoleAttendee, conf, "bob"), http.StatusForbidden},
		{"attendee HEAD", "HEAD", loc, in.token(httpapi.RoleAttendee, conf, "bob"), http.StatusForbidden},
		{"other conference's token", "HEAD", loc, in.token(httpapi.RolePresenter, other, "alice"), http.StatusForbidden},
		{"upload id under another conference", "HEAD", "/v1/conferences/" + other + "/uploads/" + id, in.token(httpapi.RolePresenter, other, "alice"), http.StatusNotFound},
		{"result under another conference", "GET", "/v1/conferences/" + other + "/uploads/" + id + "/result", in.token(httpapi.RolePresenter, other, "alice"), http.StatusNotFound},
		{"another presenter's upload", "HEAD", loc, in.token(httpapi.RolePresenter, conf, "mallory"), http.StatusForbidden},
		{"malformed upload id", "HEAD", "/v1/conferences/" + conf + "/uploads/NOT-AN-ID", tok, http.StatusBadRequest},
		{"unknown upload", "HEAD", "/v1/conferences/" + conf + "/uploads/" + strings.Repeat("0", 32), tok, http.StatusNotFound},
		{"unfinished result", "GET", loc + "/result", tok, http.StatusConflict},
		{"admin HEAD", "HEAD", loc, admin, http.StatusOK},
		{"uploader HEAD", "HEAD", loc, tok, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"Upload-Length": "10"}
			if r := in.do(tc.method, tc.path, tc.token, h, nil); r.status != tc.want {
				t.Fatalf("got %v, want %d", r, tc.want)
			}
		})
	}
}
