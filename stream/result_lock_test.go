package stream

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"path"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi"
)

// TestResultWaitsForTheLockAtMostLockWait: /result of an upload whose lock another
// request holds (and does not let go) answers 423 after LockWait, as the tus requests
// do, instead of waiting as long as the client does.
func TestResultWaitsForTheLockAtMostLockWait(t *testing.T) {
	for _, local := range []bool{false, true} {
		name := "lease locker"
		if local {
			name = "in-process locker"
		}
		t.Run(name, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t, withStream(func(c *Config) { c.LockWait, c.LocalLocksOnly = 300*time.Millisecond, local }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			loc := in.create(conf, tok, 10, meta("filename", "a.txt"))
			held, err := in.h.lock.NewLock(tusID(conf, path.Base(loc)))
			if err != nil {
				t.Fatal(err)
			}
			if err := held.Lock(context.Background(), func() {}); err != nil {
				t.Fatal(err)
			}
			// Bounds the test if the route waits for ever (it did).
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", in.srv.URL+loc+"/result", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := in.client.Do(req)
			if err != nil {
				t.Fatalf("/result while the lock is held: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusLocked || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("/result while the lock is held: %d %s, want 423 with Retry-After", resp.StatusCode, body)
			}
			if err := held.Unlock(); err != nil {
				t.Fatal(err)
			}
			if r := in.do("GET", loc+"/result", tok, nil, nil); r.status != http.StatusConflict {
				t.Fatalf("/result of the unfinished upload once the lock is free: %v, want 409", r)
			}
		})
	}
}

// TestPollingResultDoesNotStopThePatch: a client may poll /result while its own PATCH
// is under way (on this instance or another); the poll waits for the lease (and
// answers 423 when it stays held) instead of asking the PATCH to let go, which
// interrupted the upload.
func TestPollingResultDoesNotStopThePatch(t *testing.T) {
	for _, instances := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d instances", instances), func(t *testing.T) {
			be := newBackend(t)
			short := withStream(func(c *Config) { c.LockWait = 300 * time.Millisecond })
			insts := []*instance{be.start(t, short)}
			if instances == 2 {
				insts = append(insts, be.start(t, short))
			}
			poller := insts[len(insts)-1]
			conf := insts[0].conference("poll")
			tok := insts[0].token(httpapi.RolePresenter, conf, "alice")
			const size = 3 << 20
			data := make([]byte, size)
			rand.Read(data)
			loc := insts[0].create(conf, tok, size, meta("filename", "poll.pdf"))

			body, feed := io.Pipe()
			t.Cleanup(func() { body.CloseWithError(io.ErrClosedPipe) })
			patched := make(chan rawReply, 1)
			go func() { patched <- rawPatchFrom(insts[0], loc, tok, 0, body, size) }()
			if _, err := feed.Write(data[:1<<20]); err != nil {
				t.Fatal(err)
			}
			// The bytes may still be in the connection's buffers: wait until the PATCH
			// holds the upload's lease.
			lease := uploadPrefix(conf, path.Base(loc)) + lockObject
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, err := be.bucket.Stat(t.Context(), lease); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the PATCH never took the upload's lease")
				}
			}
			for range 3 {
				if r := poller.do("GET", loc+"/result", tok, nil, nil); r.status != http.StatusLocked {
					t.Fatalf("/result during the PATCH: %v, want 423", r)
				}
			}
			go func() {
				_, _ = feed.Write(data[1<<20:])
				feed.Close()
			}()
			if p := <-patched; p.err != nil || p.status != http.StatusNoContent {
				t.Fatalf("the PATCH, polled meanwhile: %d %s %v; want 204", p.status, p.body, p.err)
			}
			if r := poller.do("GET", loc+"/result", tok, nil, nil); r.status != http.StatusOK {
				t.Fatalf("/result after the PATCH: %v", r)
			}
		})
	}
}
