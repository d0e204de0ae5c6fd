package stream

import (
	"context"
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
