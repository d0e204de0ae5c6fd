package retrying_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/faulty"
	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/backends/retrying"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// fast keeps the backoff short: these tests retry thousands of times.
var fast = retrying.Policy{MaxAttempts: 10, BaseDelay: 50 * time.Microsecond, MaxDelay: 2 * time.Millisecond}

type switchControl struct{ s *faulty.Switch }

func (c switchControl) Stop(testing.TB)  { c.s.Down() }
func (c switchControl) Start(testing.TB) { c.s.Up() }

// TestConformance runs the whole suite on retrying(faulty(memory)): one call in
// twenty fails in any of the ways faulty knows, and the retries must hide every one
// of them. An outage switch stands in for the server of the fault checks.
func TestConformance(t *testing.T) {
	outage := &faulty.Switch{}
	var (
		mu      sync.Mutex
		drivers []*faulty.Driver
		seed    atomic.Uint64
	)
	conformance.Run(t, conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			store := memory.NewStore()
			return func(t testing.TB) storage.Driver {
				f := faulty.New(memory.New(store), faulty.Config{Kinds: faulty.AllKinds, Probability: 0.05, Seed: seed.Add(1)}, outage)
				mu.Lock()
				drivers = append(drivers, f)
				mu.Unlock()
				d := retrying.New(f, fast)
				t.Cleanup(func() { d.Close() })
				return d
			}
		},
		Server: switchControl{outage},
	})
	var injected int64
	for _, d := range drivers {
		injected += d.Injected()
	}
	// Without faults this run would prove nothing about the retries.
	if injected < 100 {
		t.Fatalf("only %d faults were injected during the suite", injected)
	}
	t.Logf("%d faults injected and retried", injected)
}

// scripted is an inner driver that fails its first n calls with err, then delegates
// to memory; it counts the calls it got.
type scripted struct {
	storage.Driver
	mu    sync.Mutex
	fails int
	err   error
	calls int
}

func (s *scripted) next() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fails > 0 {
		s.fails--
		return s.err
	}
	return nil
}

func (s *scripted) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if err := s.next(); err != nil {
		return storage.Attributes{}, err
	}
	return s.Driver.Stat(ctx, key)
}

func (s *scripted) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if err := s.next(); err != nil {
		return storage.Attributes{}, err
	}
	return s.Driver.Put(ctx, key, r, o)
}

func (s *scripted) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		if err := s.next(); err != nil {
			yield(storage.Attributes{}, err)
			return
		}
		for a, err := range s.Driver.List(ctx, prefix) {
			if !yield(a, err) {
				return
			}
		}
	}
}

func newScripted(fails int, err error) *scripted {
	return &scripted{Driver: memory.New(memory.NewStore()), fails: fails, err: err}
}

func TestRetriesOnlyRetryableErrors(t *testing.T) {
	unavailable := storage.NewError(storage.ErrUnavailable, "stat", "k", nil)
	tests := []struct {
		name      string
		err       error
		fails     int
		wantCalls int
		wantErr   error            // nil: the stat reaches memory and reports ErrNotFound
		policy    *retrying.Policy // nil: fast
	}{
		{"retryable_then_success", unavailable, 3, 4, storage.ErrNotFound, nil},
		{"retryable_until_attempts_run_out", unavailable, 100, fast.MaxAttempts, storage.ErrUnavailable, nil},
		{"unclassified_not_retried", errors.New("boom"), 100, 1, nil, nil},
		{"not_found_not_retried", storage.NewError(storage.ErrNotFound, "stat", "k", nil), 100, 1, storage.ErrNotFound, nil},
		{"permission_not_retried", storage.NewError(storage.ErrPermission, "stat", "k", nil), 100, 1, storage.ErrPermission, nil},
		{"precondition_not_retried", storage.NewError(storage.ErrPrecondition, "stat", "k", nil), 100, 1, storage.ErrPrecondition, nil},
		// Past about 50 attempts the doubled delay overflows int64: capped, not negative.
		{"many_attempts", unavailable, 100, 70, storage.ErrUnavailable,
			&retrying.Policy{MaxAttempts: 70, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := newScripted(tt.fails, tt.err)
			policy := fast
			if tt.policy != nil {
				policy = *tt.policy
			}
			_, err := storage.NewBucket(retrying.New(inner, policy)).Stat(t.Context(), "k")
			if inner.calls != tt.wantCalls {
				t.Fatalf("inner Stat called %d times, want %d", inner.calls, tt.wantCalls)
			}
			want := tt.wantErr
			if want == nil {
				want = tt.err
			}
			if !errors.Is(err, want) {
				t.Fatalf("Stat = %v, want %v", err, want)
			}
		})
	}
}

// TestCallersReaderErrorIsNotRetried: a Put failing because of the caller's own
// reader must not be retried, even if that error happens to look retryable.
func TestCallersReaderErrorIsNotRetried(t *testing.T) {
	inner := newScripted(0, nil)
	readerErr := storage.NewError(storage.ErrUnavailable, "read", "", errors.New("caller's source went away"))
	r := io.MultiReader(bytes.NewReader([]byte("abc")), &errReader{readerErr})
	_, err := storage.NewBucket(retrying.New(inner, fast)).Put(t.Context(), "k", r, storage.PutOptions{Size: -1})
	if !errors.Is(err, readerErr) || inner.calls != 1 {
		t.Fatalf("Put = %v after %d calls, want the reader's error after 1", err, inner.calls)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// TestUnseekablePutNotReplayed: once a non-seekable reader was consumed, the put
// cannot be replayed and the retryable error is returned.
func TestUnseekablePutNotReplayed(t *testing.T) {
	f := faulty.New(memory.New(memory.NewStore()), faulty.Config{Kinds: faulty.CutPutReader, Every: 1}, nil)
	data := bytes.Repeat([]byte("x"), 10_000)
	_, err := storage.NewBucket(retrying.New(f, fast)).Put(t.Context(), "k", io.MultiReader(bytes.NewReader(data)), storage.PutOptions{Size: int64(len(data))})
	if !storage.IsRetryable(err) || f.Injected() != 1 {
		t.Fatalf("Put = %v after %d faults, want one retryable failure", err, f.Injected())
	}
	// A seekable reader is replayed until the attempts run out.
	_, err = storage.NewBucket(retrying.New(f, fast)).Put(t.Context(), "k", bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))})
	if !storage.IsRetryable(err) || f.Injected() != 1+int64(fast.MaxAttempts) {
		t.Fatalf("Put = %v after %d faults, want %d", err, f.Injected(), 1+fast.MaxAttempts)
	}
}

// TestBodyResumes cuts every body and checks that reads still deliver every byte.
func TestBodyResumes(t *testing.T) {
	store := memory.NewStore()
	data := make([]byte, 200_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if _, err := storage.NewBucket(memory.New(store)).PutBytes(t.Context(), "k", data, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	f := faulty.New(memory.New(store), faulty.Config{Ops: faulty.OpGet, Kinds: faulty.CutGetBody, Every: 2, Seed: 3}, nil)
	b := storage.NewBucket(retrying.New(f, fast))
	// Every second Get is cut (the resumed ones included), so read a few times.
	for range 4 {
		rc, _, err := b.Get(t.Context(), "k", 1000, 150_000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[1000:151_000]) {
			t.Fatalf("resumed read = %d bytes, %v; want %d exact bytes", len(got), err, 150_000)
		}
	}
	if f.Injected() == 0 {
		t.Fatal("no body was cut")
	}
}

// TestBodyDoesNotResumeOntoAnotherVersion: if the object is replaced while its body
// is interrupted, resuming would splice two versions; the read must fail instead.
func TestBodyDoesNotResumeOntoAnotherVersion(t *testing.T) {
	store := memory.NewStore()
	plain := storage.NewBucket(memory.New(store))
	if _, err := plain.PutBytes(t.Context(), "k", bytes.Repeat([]byte("a"), 100_000), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	f := faulty.New(memory.New(store), faulty.Config{Ops: faulty.OpGet, Kinds: faulty.CutGetBody, Every: 1}, nil)
	rc, _, err := storage.NewBucket(retrying.New(f, fast)).Get(t.Context(), "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := plain.PutBytes(t.Context(), "k", bytes.Repeat([]byte("b"), 100_000), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if !errors.Is(err, retrying.ErrChanged) || !storage.IsRetryable(err) {
		t.Fatalf("read across a replacement = %v, want ErrChanged (retryable)", err)
	}
	if bytes.Contains(got, []byte("b")) {
		t.Fatal("bytes of the new version were spliced onto the old one")
	}
}

// TestListResumes cuts listings and checks that no key is lost or repeated.
func TestListResumes(t *testing.T) {
	store := memory.NewStore()
	plain := storage.NewBucket(memory.New(store))
	var want []string
	for i := range 300 {
		k := "k/" + string(rune('a'+i/26%26)) + string(rune('a'+i%26)) + string(rune('a'+i/676))
		want = append(want, k)
		if _, err := plain.PutBytes(t.Context(), k, nil, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	f := faulty.New(memory.New(store), faulty.Config{Ops: faulty.OpList, Kinds: faulty.CutList, Every: 2, Seed: 1}, nil)
	b := storage.NewBucket(retrying.New(f, fast))
	// Every second listing is cut (the resumed ones included), so list a few times.
	for range 4 {
		var got []string
		for a, err := range b.List(t.Context(), "k/") {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, a.Key)
		}
		if len(got) != len(want) {
			t.Fatalf("resumed listing has %d keys, want %d", len(got), len(want))
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("resumed listing out of order or repeated at %d: %q after %q", i, got[i], got[i-1])
			}
		}
	}
	if f.Injected() == 0 {
		t.Fatal("no listing was cut")
	}
}

// TestCancelStopsRetrying: a cancelled context ends the retries with the
// cancellation, not with the last transient failure.
func TestCancelStopsRetrying(t *testing.T) {
	inner := newScripted(1_000_000, storage.NewError(storage.ErrUnavailable, "stat", "k", nil))
	ctx, cancel := context.WithCancel(t.Context())
	d := retrying.New(inner, retrying.Policy{MaxAttempts: 1_000_000, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	done := make(chan error, 1)
	go func() { _, err := d.Stat(ctx, "k"); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat = %v, want context.Canceled", err)
	}
}

// halfBody is an inner driver whose first Get body delivers half of the range
// together with a retryable error, and then reports a clean io.EOF, as some readers
// do after their first error. Later Gets are the plain object.
type halfBody struct {
	storage.Driver
	cut atomic.Bool
}

func (h *halfBody) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := h.Driver.Get(ctx, key, off, n)
	if err != nil || h.cut.Swap(true) {
		return rc, a, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, a, err
	}
	return io.NopCloser(&errOnceReader{data: data[:len(data)/2],
		err: storage.NewError(storage.ErrUnavailable, "get", key, io.ErrUnexpectedEOF)}), a, nil
}

type errOnceReader struct {
	data []byte
	err  error
}

func (r *errOnceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		err := r.err
		r.err = nil
		return n, err
	}
	return n, nil
}

// TestBodyKeepsAnErrorReturnedWithBytes: an error returned together with bytes must
// not be lost when the inner reader answers io.EOF afterwards; the body resumes from
// where it was cut instead of ending early without an error.
func TestBodyKeepsAnErrorReturnedWithBytes(t *testing.T) {
	store := memory.NewStore()
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	if _, err := storage.NewBucket(memory.New(store)).PutBytes(t.Context(), "k", data, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	inner := &halfBody{Driver: memory.New(store)}
	rc, _, err := retrying.New(inner, fast).Get(t.Context(), "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes, err %v; want every byte", len(got), len(data), err)
	}
}
