package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// Run runs the whole suite on the backend h describes, as subtests of t grouped by
// area (keys, put, conditional, get, stat, delete, list, concurrency, cancellation,
// instances, large, faults, move, append, compose, leftovers). Every check gets fresh storage from h.NewStorage and wraps
// each driver in a storage.Bucket, as the engine does. Checks a backend cannot run are
// skipped by its declared capabilities, never by its name.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if crossProcessChild(t, h) {
		return // this process is a child of instances/conditional_puts_across_processes
	}
	if h.NewStorage == nil {
		t.Fatal("conformance: Harness.NewStorage is required")
	}
	runName := t.Name()
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.checks {
				t.Run(c.name, func(t *testing.T) {
					defer failOnPanic(t)
					e := newEnv(t, h)
					e.runName = runName
					c.fn(t, e)
				})
			}
		})
	}
}

// failOnPanic turns a panic in a check's goroutine (a driver's, most likely) into
// the failure of that check, with where it happened, so that the other checks still
// run. A panic in a goroutine a check started still ends the run: nothing can
// recover it from here.
func failOnPanic(t *testing.T) {
	r := recover()
	if r == nil {
		return
	}
	t.Errorf("the check panicked: %v; at\n%s", r, panicSite(debug.Stack()))
}

// panicSite is the frames of stack under the panic call: where it happened.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") {
			rest := lines[min(i+2, len(lines)):]
			return strings.Join(rest[:min(8, len(rest))], "\n")
		}
	}
	return string(stack)
}

type check struct {
	name string
	fn   func(t *testing.T, e *env)
}

type group struct {
	name   string
	checks []check
}

func groups() []group {
	return []group{
		{"keys", keyChecks()},
		{"put", putChecks()},
		{"conditional", conditionalChecks()},
		{"get", getChecks()},
		{"stat", statChecks()},
		{"delete", deleteChecks()},
		{"list", listChecks()},
		{"concurrency", concurrencyChecks()},
		{"cancellation", cancellationChecks()},
		{"instances", instanceChecks()},
		{"large", largeChecks()},
		{"faults", faultChecks()},
		{"move", moveChecks()},
		{"append", appendChecks()},
		{"compose", composeChecks()},
		{"leftovers", leftoverChecks()},
	}
}

// env is the fixture of one check: fresh storage, one bucket over it, and the means
// to open more instances over the same storage.
type env struct {
	t    *testing.T
	h    Harness
	open Opener
	b    *storage.Bucket
	caps storage.Capabilities
	ctx  context.Context
	// runName is the name of the test that called Run, which a child process runs.
	runName string
}

func newEnv(t *testing.T, h Harness) *env {
	open := h.NewStorage(t)
	if open == nil {
		t.Fatal("conformance: Harness.NewStorage returned a nil Opener")
	}
	e := &env{t: t, h: h, open: open, ctx: t.Context()}
	e.b = e.instance()
	e.caps = e.b.Capabilities()
	return e
}

// sub is e for a subtest: its helpers fail t, the subtest, never the parent (a
// FailNow on the parent from a subtest aborts the run instead of failing the check).
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// instance opens another driver over the same storage.
func (e *env) instance() *storage.Bucket {
	e.t.Helper()
	d := e.open(e.t)
	if d == nil {
		e.t.Fatal("conformance: the Opener returned a nil driver")
	}
	return storage.NewBucket(d)
}

func (e *env) needCreate() {
	e.t.Helper()
	if !e.caps.ConditionalCreate {
		e.t.Skip("backend lacks the ConditionalCreate capability")
	}
}

func (e *env) needReplace() {
	e.t.Helper()
	if !e.caps.ConditionalReplace {
		e.t.Skip("backend lacks the ConditionalReplace capability")
	}
}

func (e *env) needShared() {
	e.t.Helper()
	if !e.caps.SharedAcrossInstances {
		e.t.Skip("backend lacks the SharedAcrossInstances capability")
	}
}

// put stores data unconditionally and fails the check on error.
func (e *env) put(key string, data []byte) storage.Attributes {
	e.t.Helper()
	return mustPut(e.t, e.ctx, e.b, key, data)
}

func mustPut(t testing.TB, ctx context.Context, b *storage.Bucket, key string, data []byte) storage.Attributes {
	t.Helper()
	a, err := b.PutBytes(ctx, key, data, storage.Condition{})
	if err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
	return a
}

// wantContent fails the check unless key holds exactly want.
func (e *env) wantContent(b *storage.Bucket, key string, want []byte) {
	e.t.Helper()
	got, _, err := b.ReadAll(e.ctx, key)
	if err != nil {
		e.t.Fatalf("reading %q: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		e.t.Fatalf("%q holds %s, want %s", key, describe(got), describe(want))
	}
}

// wantMissing fails the check unless key is absent for both Get and Stat.
func (e *env) wantMissing(b *storage.Bucket, key string) {
	e.t.Helper()
	if _, err := b.Stat(e.ctx, key); !errors.Is(err, storage.ErrNotFound) {
		e.t.Fatalf("Stat(%q) = %v, want an error matching storage.ErrNotFound", key, err)
	}
	rc, _, err := b.Get(e.ctx, key, 0, -1)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) {
		e.t.Fatalf("Get(%q) = %v, want an error matching storage.ErrNotFound", key, err)
	}
}

// keys lists prefix completely, failing the check on error.
func (e *env) keys(b *storage.Bucket, prefix string) []string {
	e.t.Helper()
	attrs, err := listAll(e.ctx, b, prefix)
	if err != nil {
		e.t.Fatalf("List(%q): %v", prefix, err)
	}
	out := make([]string, len(attrs))
	for i, a := range attrs {
		out[i] = a.Key
	}
	return out
}

// listAll lists prefix completely. A key that is not a valid key (a temporary file's
// dot-name, say) or lacks the prefix is an error: no put could have made it.
func listAll(ctx context.Context, b *storage.Bucket, prefix string) ([]storage.Attributes, error) {
	var out []storage.Attributes
	for a, err := range b.List(ctx, prefix) {
		if err != nil {
			return out, err
		}
		if err := storage.ValidateKey(a.Key); err != nil {
			return out, fmt.Errorf("List(%q) yielded %q, which no put can make (%w)", prefix, a.Key, err)
		}
		if !strings.HasPrefix(a.Key, prefix) {
			return out, fmt.Errorf("List(%q) yielded %q, which lacks the prefix", prefix, a.Key)
		}
		out = append(out, a)
	}
	return out, nil
}

func (e *env) wantKeys(b *storage.Bucket, prefix string, want ...string) {
	e.t.Helper()
	got := e.keys(b, prefix)
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		e.t.Fatalf("List(%q) = %s, want %s", prefix, short(got), short(want))
	}
}

// wantKind fails the check unless err matches the category kind.
func wantKind(t testing.TB, err, kind error, what string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v (category %v), want one matching %v", what, err, storage.KindOf(err), kind)
	}
}

// payload returns n deterministic bytes that differ for every seed, so that a mix of
// two versions, a shifted range or a truncated object never compares equal.
func payload(n int, seed string) []byte {
	h := fnv.New64a()
	h.Write([]byte(seed))
	x := h.Sum64() | 1
	out := make([]byte, n)
	for i := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out[i] = byte(x >> 32)
	}
	return out
}

// describe summarizes bytes for a failure message without dumping them.
func describe(b []byte) string {
	h := fnv.New32a()
	h.Write(b)
	if len(b) <= 16 {
		return fmt.Sprintf("%d bytes %q", len(b), b)
	}
	return fmt.Sprintf("%d bytes (fnv %08x, starting %x)", len(b), h.Sum32(), b[:8])
}

func short(keys []string) string {
	if len(keys) <= 12 {
		return fmt.Sprintf("%q", keys)
	}
	return fmt.Sprintf("%d keys %q … %q", len(keys), keys[:6], keys[len(keys)-6:])
}

// errReaderFailed is what the suite's failing readers return.
var errReaderFailed = errors.New("conformance: the reader failed on purpose")

// failingReader yields data up to failAt bytes, then fails. It is seekable, so that a
// retrying wrapper may replay it; the failure comes back after every replay.
type failingReader struct {
	data   []byte
	failAt int
	pos    int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.pos >= r.failAt {
		return 0, errReaderFailed
	}
	n := copy(p, r.data[r.pos:r.failAt])
	r.pos += n
	return n, nil
}

func (r *failingReader) Seek(off int64, whence int) (int64, error) {
	return seek(&r.pos, len(r.data), off, whence)
}

func seek(pos *int, size int, off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += int64(*pos)
	case io.SeekEnd:
		off += int64(size)
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	*pos = int(off)
	return off, nil
}

// blockingReader yields data up to blockAt bytes, announces that on reached and
// blocks until ctx is done; then it hands over the rest of its data as if nothing had
// happened. It lets a check cancel a Put midway without sleeping, and it never tells
// the driver about the cancellation: a reader that failed with ctx's error would let a
// driver deaf to its context pass on the reader's error as its own. Nor does it block
// past the cancellation, so that a deaf driver cannot hang the check: it completes
// its write instead, and the check fails on that.
type blockingReader struct {
	ctx       context.Context
	data      []byte
	blockAt   int
	pos       int
	reached   chan struct{}
	announced bool
	released  bool // ctx is done: no more blocking
}

func newBlockingReader(ctx context.Context, data []byte, blockAt int) *blockingReader {
	return &blockingReader{ctx: ctx, data: data, blockAt: blockAt, reached: make(chan struct{})}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	end := len(r.data)
	if !r.released {
		if r.pos >= r.blockAt {
			if !r.announced { // a retrying wrapper may seek back and come here again
				r.announced = true
				close(r.reached)
			}
			<-r.ctx.Done()
			r.released = true
		} else {
			end = r.blockAt
		}
	}
	if r.pos >= end {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.pos:end])
	r.pos += n
	return n, nil
}

func (r *blockingReader) Seek(off int64, whence int) (int64, error) {
	return seek(&r.pos, len(r.data), off, whence)
}

// oneWinner runs the n operations at once and returns the index of the one that
// succeeded; every other one must have failed with ErrPrecondition (the check fails
// otherwise, or if none or several succeeded). lost is called for each loser.
func oneWinner(t testing.TB, what string, n int, op func(i int) error, lost func(i int)) int {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = op(i) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("%s: more than one succeeded", what)
			}
			won = i
		case errors.Is(err, storage.ErrPrecondition):
			if lost != nil {
				lost(i)
			}
		default:
			t.Fatalf("%s: %d: %v", what, i, err)
		}
	}
	if won < 0 {
		t.Fatalf("%s: none succeeded", what)
	}
	return won
}
