package stream

import (
	"bytes"
	"io"
	"net/http"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi"
)

// TestQuotaCheckLeavesALeasedExpiredUpload: a quota check (it runs at every creation
// in the conference, holding no upload's lease) does not remove an expired upload
// while a PATCH that began before the expiry holds its lease and writes to it; the
// PATCH's bytes are kept, and the upload is removed once nobody holds it.
func TestQuotaCheckLeavesALeasedExpiredUpload(t *testing.T) {
	for name, mk := range map[string]func(testing.TB) *backend{"append": newBackend, "parts": newBackendWithoutAppend} {
		t.Run(name, func(t *testing.T) {
			const q = 256 << 10
			const first, total = 1000, 2000
			limits := conference.Limits{MaxContentFile: q, MaxHandoutFile: q, MaxConferenceContent: q,
				MaxConferenceHandouts: q, MaxContentFiles: 100, MaxHandoutFiles: 100}
			slide := meta("filename", "a.pdf")
			reached := make(chan struct{})
			var once sync.Once
			be := mk(t)
			in := be.start(t, withLimits(limits), withStream(func(c *Config) {
				c.LockTTL = 300 * time.Millisecond // renewed every 100 ms
				c.capRead = func(_ string, held int64) {
					if held >= first {
						once.Do(func() { close(reached) })
					}
				}
			}))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": slide}, nil)
			if r.status != http.StatusCreated {
				t.Fatal(r)
			}
			d := locationPath(t, r)
			pr, pw := io.Pipe()
			done := make(chan reply, 1)
			go func() { done <- in.doReader("PATCH", d, tok, patchHeaders(0, nil), pr) }()
			data := textData(total)
			if _, err := pw.Write(data[:first]); err != nil {
				t.Fatal(err)
			}
			<-reached // the PATCH holds the lease and has its first bytes
			be.clock.Advance(DefaultExpiry + expiredRemovalMargin + time.Second)
			// The holder renews its lease on the new time before the check looks.
			lock := uploadPrefix(conf, path.Base(d)) + lockObject
			deadline := time.Now().Add(10 * time.Second)
			for {
				if b, _, err := be.bucket.ReadAll(t.Context(), lock); err == nil {
					if exp, _ := parseLease(b); be.clock.Now().UnixMilli() < exp {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("the PATCH's lease was not renewed")
				}
				time.Sleep(10 * time.Millisecond)
			}
			in.create(conf, tok, 10, slide) // its quota check meets the expired upload
			if _, err := io.Copy(pw, bytes.NewReader(data[first:])); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			got := <-done
			prefix := uploadPrefix(conf, path.Base(d))
			if _, _, err := be.bucket.ReadAll(t.Context(), prefix+infoObject); err != nil {
				t.Fatalf("the upload's record was removed under a PATCH holding its lease (the PATCH answered %d): %v", got.status, err)
			}
			// Once nobody holds it, the next check removes it.
			be.clock.Advance(time.Second) // the lease, released or not, is past
			in.create(conf, tok, 10, slide)
			if left := be.objects(t, prefix); len(left) != 0 {
				t.Fatalf("the expired upload nobody holds still has %d objects", len(left))
			}
		})
	}
}
