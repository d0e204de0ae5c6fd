package smb

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// TestListAndPutDuringFolderRemovals: a listing that meets a folder another client is
// removing at that moment (the last key of an upload's folder deleted, the folder
// pruned) does not fail, and neither does a put whose folder's parent is pruned
// between its look and its create. Samba answers the listing's open of such a folder
// with a sharing violation, "delete pending" or "no such file", and the put's mkdir
// with "not found"; the upload endpoint lists a conference's uploads at every
// creation, so under load that failed creations with 503.
func TestListAndPutDuringFolderRemovals(t *testing.T) {
	bk, _, _ := fresh(t)
	ctx := testCtx(t)
	const writers, rounds = 4, 60
	var wg sync.WaitGroup
	var done atomic.Bool
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				key := fmt.Sprintf("u/%d-%d/info", w, r)
				if _, err := bk.PutBytes(ctx, key, []byte("record"), storage.Condition{}); err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
					return
				}
				if err := bk.Delete(ctx, key); err != nil {
					errs <- fmt.Errorf("delete %s: %w", key, err)
					return
				}
			}
		})
	}
	lists := 0
	var failures []string
	var listers sync.WaitGroup
	listers.Go(func() {
		for !done.Load() {
			for _, err := range bk.List(ctx, "u/") {
				if err != nil {
					failures = append(failures, err.Error())
					break
				}
			}
			lists++
		}
	})
	wg.Wait()
	done.Store(true)
	listers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d listings failed while folders were being removed, e.g. %s", len(failures), lists, strings.Join(failures[:1], ""))
	}
	t.Logf("%d listings, none failed", lists)
}
