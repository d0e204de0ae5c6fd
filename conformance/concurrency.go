package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

func concurrencyChecks() []check {
	return []check{
		{"64_readers_and_writers_see_whole_versions", concurrentReadersWriters},
		{"writers_on_one_key_leave_one_version", concurrentWritersOneKey},
		{"writers_on_distinct_keys", concurrentDistinctKeys},
		{"list_while_writing", concurrentListWhileWriting},
		{"deletes_racing_puts", concurrentDeletesPuts},
	}
}

// version returns the bytes writer w stores on its i-th put: they start with a header
// naming (w, i) and their size varies, so that a reader can tell which version it got
// and any mix of two versions, or a truncated one, is detected.
func version(w, i int) []byte {
	head := fmt.Sprintf("w%02d-i%03d|", w, i)
	body := payload(1_000+(w*7_919+i*977)%60_000, head)
	return append([]byte(head), body...)
}

// whichVersion reports whether data is exactly one of the versions and which.
func whichVersion(data []byte) (string, bool) {
	end := bytes.IndexByte(data, '|')
	if end < 0 {
		return "", false
	}
	var w, i int
	if _, err := fmt.Sscanf(string(data[:end+1]), "w%02d-i%03d|", &w, &i); err != nil {
		return "", false
	}
	return string(data[:end]), bytes.Equal(data, version(w, i))
}

// readRetrying reads key whole. A retryable failure is tried again from scratch, as
// the engine does: a backend under load may shed requests. Any other failure is
// returned.
func readRetrying(ctx context.Context, b *storage.Bucket, key string) ([]byte, error) {
	var err error
	for range 20 {
		var data []byte
		if data, _, err = b.ReadAll(ctx, key); err == nil || !storage.IsRetryable(err) {
			return data, err
		}
	}
	return nil, err
}

// concurrentReadersWriters runs 32 writers replacing one key and 32 readers reading it
// at once; every read must be exactly one whole version.
func concurrentReadersWriters(t *testing.T, e *env) {
	const writers, readers = 32, 32
	puts := 12
	if testing.Short() {
		puts = 4
	}
	e.put("hot", version(99, 0))
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		done     atomic.Bool
		failures = make(chan error, writers+readers)
		reads    atomic.Int64
	)
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		wg.Go(func() {
			defer writersWG.Done()
			<-start
			for i := range puts {
				if _, err := e.b.PutBytes(e.ctx, "hot", version(w, i), storage.Condition{}); err != nil {
					failures <- fmt.Errorf("writer %d put %d: %w", w, i, err)
					return
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			<-start
			for n := 0; n < 2 || !done.Load(); n++ {
				data, err := readRetrying(e.ctx, e.b, "hot")
				if err != nil {
					failures <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if name, ok := whichVersion(data); !ok {
					failures <- fmt.Errorf("reader %d read %s, which is no whole version (header %q): a mix or a partial object", r, describe(data), name)
					return
				}
				reads.Add(1)
			}
		})
	}
	close(start)
	writersWG.Wait()
	done.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	data, err := readRetrying(e.ctx, e.b, "hot")
	if err != nil {
		t.Fatalf("final read: %v", err)
	}
	if _, ok := whichVersion(data); !ok {
		t.Fatalf("final content %s is no whole version", describe(data))
	}
	t.Logf("%d whole reads during %d puts", reads.Load(), writers*puts)
}

func concurrentWritersOneKey(t *testing.T, e *env) {
	const writers = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			<-start
			_, errs[w] = e.b.PutBytes(e.ctx, "one", version(w, 0), storage.Condition{})
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent unconditional puts failed: %v", err)
	}
	data, err := readRetrying(e.ctx, e.b, "one")
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if _, ok := whichVersion(data); !ok {
		t.Fatalf("after %d concurrent puts the key holds %s, no whole version", writers, describe(data))
	}
	st, err := e.b.Stat(e.ctx, "one")
	if err != nil || st.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, %v; want size %d", st, err, len(data))
	}
}

func concurrentDistinctKeys(t *testing.T, e *env) {
	const n = 64
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("par/%02d/obj", i)
	}
	if err := putAll(e.ctx, e.b, keys, n); err != nil {
		t.Fatal(err)
	}
	e.wantKeys(e.b, "par/", keys...)
	for _, k := range keys {
		e.wantContent(e.b, k, []byte(k))
	}
}

// concurrentListWhileWriting lists while keys are added: every listing must be in
// order without duplicates, and must include the keys that existed before it began.
func concurrentListWhileWriting(t *testing.T, e *env) {
	base := []string{"lw/base-a", "lw/base-m", "lw/base-z"}
	for _, k := range base {
		e.put(k, []byte(k))
	}
	var added []string
	for i := range 200 {
		added = append(added, fmt.Sprintf("lw/new-%03d", i))
	}
	// One put stays in flight, its body half read, through every listing: whatever
	// the backend stages it in (a temporary file, an upload) must not be listed.
	const inFlight = "lw/in-flight"
	held := &heldReader{data: payload(100_000, inFlight), holdAt: 50_000, reached: make(chan struct{}), release: make(chan struct{})}
	heldErr := make(chan error, 1)
	go func() {
		_, err := e.b.Put(e.ctx, inFlight, held, storage.PutOptions{Size: -1})
		heldErr <- err
	}()
	released := false
	release := func() {
		if !released {
			released = true
			close(held.release)
		}
	}
	defer release() // a failed check must not leave the put hanging
	select {
	case <-held.reached:
	case err := <-heldErr:
		t.Fatalf("Put(%q) ended before reading its body: %v", inFlight, err)
	}
	putKeys := append(slices.Clone(base), added...)
	putKeys = append(putKeys, inFlight)
	errc := make(chan error, 1)
	go func() { errc <- putAll(e.ctx, e.b, added, 8) }()
	for range 10 {
		got := e.keys(e.b, "lw/")
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("a listing during writes is out of order or has duplicates: %s", short(got))
		}
		for _, k := range base {
			if !slices.Contains(got, k) {
				t.Fatalf("a listing during writes lacks %q, which existed before", k)
			}
		}
		for _, k := range got {
			if !slices.Contains(putKeys, k) {
				t.Fatalf("a listing during writes has %q, which was never put", k)
			}
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-heldErr; err != nil {
		t.Fatalf("Put(%q): %v", inFlight, err)
	}
	if got := e.keys(e.b, "lw/"); len(got) != len(putKeys) {
		t.Fatalf("final listing has %d keys, want %d", len(got), len(putKeys))
	}
}

// heldReader yields data up to holdAt bytes, announces that on reached and blocks
// until release is closed; then it yields the rest.
type heldReader struct {
	data             []byte
	holdAt, pos      int
	reached, release chan struct{}
	announced        bool
}

func (r *heldReader) Read(p []byte) (int, error) {
	end := len(r.data)
	if r.pos < r.holdAt {
		end = r.holdAt
	} else {
		if !r.announced {
			r.announced = true
			close(r.reached)
		}
		<-r.release
	}
	if r.pos >= end {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.pos:end])
	r.pos += n
	return n, nil
}

// concurrentDeletesPuts races deletes against puts on the same keys; each key must end
// missing or holding one whole version.
func concurrentDeletesPuts(t *testing.T, e *env) {
	const keys, rounds = 8, 6
	var wg sync.WaitGroup
	start := make(chan struct{})
	failures := make(chan error, 2*keys)
	for k := range keys {
		key := fmt.Sprintf("dp/%d", k)
		wg.Go(func() {
			<-start
			for i := range rounds {
				if _, err := e.b.PutBytes(e.ctx, key, version(k, i), storage.Condition{}); err != nil {
					failures <- fmt.Errorf("Put(%q): %w", key, err)
					return
				}
			}
		})
		wg.Go(func() {
			<-start
			for range rounds {
				if err := e.b.Delete(e.ctx, key); err != nil {
					failures <- fmt.Errorf("Delete(%q): %w", key, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	for k := range keys {
		key := fmt.Sprintf("dp/%d", k)
		data, err := readRetrying(e.ctx, e.b, key)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("read %q: %v", key, err)
		}
		if _, ok := whichVersion(data); !ok {
			t.Fatalf("%q holds %s, no whole version", key, describe(data))
		}
	}
	got := e.keys(e.b, "dp/")
	if !slices.IsSorted(got) {
		t.Fatalf("listing out of order: %q", got)
	}
}
