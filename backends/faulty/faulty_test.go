package faulty_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/lectern/lectern/backends/faulty"
	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// wantInjected checks that err is an injected fault, classified retryable.
func wantInjected(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, faulty.ErrInjected) || !errors.Is(err, storage.ErrUnavailable) || !storage.IsRetryable(err) {
		t.Fatalf("%s: got %v, want an injected fault matching storage.ErrUnavailable", what, err)
	}
	if storage.KindOf(err) != storage.ErrUnavailable {
		t.Fatalf("%s: category %v, want storage.ErrUnavailable", what, storage.KindOf(err))
	}
}

// TestEveryInjectedErrorIsRetryable makes every call fail, in each way a fault can be
// injected, and checks the error's category and that nothing was committed.
func TestEveryInjectedErrorIsRetryable(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	tests := []struct {
		name string
		kind faulty.Kind
		op   faulty.Op
		run  func(t *testing.T, b *storage.Bucket) error
	}{
		{"put_before", faulty.Before, faulty.OpPut, func(t *testing.T, b *storage.Bucket) error {
			_, err := b.PutBytes(t.Context(), "new", data, storage.Condition{})
			return err
		}},
		{"put_reader_cut", faulty.CutPutReader, faulty.OpPut, func(t *testing.T, b *storage.Bucket) error {
			_, err := b.PutBytes(t.Context(), "new", data, storage.Condition{})
			return err
		}},
		{"put_reader_cut_unknown_size", faulty.CutPutReader, faulty.OpPut, func(t *testing.T, b *storage.Bucket) error {
			_, err := b.Put(t.Context(), "new", io.MultiReader(bytes.NewReader(data)), storage.PutOptions{Size: -1})
			return err
		}},
		{"conditional_put_before", faulty.Before, faulty.OpPut, func(t *testing.T, b *storage.Bucket) error {
			_, err := b.PutBytes(t.Context(), "new", data, storage.Condition{IfNotExists: true})
			return err
		}},
		{"get_before", faulty.Before, faulty.OpGet, func(t *testing.T, b *storage.Bucket) error {
			_, _, err := b.ReadAll(t.Context(), "old")
			return err
		}},
		{"get_body_cut", faulty.CutGetBody, faulty.OpGet, func(t *testing.T, b *storage.Bucket) error {
			_, _, err := b.ReadAll(t.Context(), "old")
			return err
		}},
		{"stat_before", faulty.Before, faulty.OpStat, func(t *testing.T, b *storage.Bucket) error {
			_, err := b.Stat(t.Context(), "old")
			return err
		}},
		{"delete_before", faulty.Before, faulty.OpDelete, func(t *testing.T, b *storage.Bucket) error {
			return b.Delete(t.Context(), "old")
		}},
		{"list_before", faulty.Before, faulty.OpList, func(t *testing.T, b *storage.Bucket) error {
			for _, err := range b.List(t.Context(), "") {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"list_cut", faulty.CutList, faulty.OpList, func(t *testing.T, b *storage.Bucket) error {
			for _, err := range b.List(t.Context(), "") {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memory.NewStore()
			plain := storage.NewBucket(memory.New(store))
			if _, err := plain.PutBytes(t.Context(), "old", data, storage.Condition{}); err != nil {
				t.Fatal(err)
			}
			d := faulty.New(memory.New(store), faulty.Config{Ops: tt.op, Kinds: tt.kind, Every: 1}, nil)
			wantInjected(t, tt.run(t, storage.NewBucket(d)), tt.name)
			if d.Injected() != 1 {
				t.Fatalf("Injected() = %d, want 1", d.Injected())
			}
			// Faults strike before anything commits: the store is as it was.
			if _, err := plain.Stat(t.Context(), "new"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a faulted put left %q behind: %v", "new", err)
			}
			if got, _, err := plain.ReadAll(t.Context(), "old"); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("a fault changed %q: %v", "old", err)
			}
		})
	}
}

func TestEveryNth(t *testing.T) {
	d := faulty.New(memory.New(memory.NewStore()), faulty.Config{Every: 3}, nil)
	b := storage.NewBucket(d)
	var failed []int
	for i := 1; i <= 9; i++ {
		if _, err := b.Stat(t.Context(), "k"); errors.Is(err, faulty.ErrInjected) {
			failed = append(failed, i)
		} else if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if len(failed) != 3 || failed[0] != 3 || failed[1] != 6 || failed[2] != 9 {
		t.Fatalf("failed calls %v, want [3 6 9]", failed)
	}
}

// TestSeedIsDeterministic: the same seed gives the same faults, so that a failure
// found with a seed can be replayed.
func TestSeedIsDeterministic(t *testing.T) {
	pattern := func(seed uint64) []bool {
		b := storage.NewBucket(faulty.New(memory.New(memory.NewStore()), faulty.Config{Probability: 0.3, Seed: seed}, nil))
		out := make([]bool, 200)
		for i := range out {
			_, err := b.Stat(t.Context(), "k")
			out[i] = errors.Is(err, faulty.ErrInjected)
		}
		return out
	}
	a, b, c := pattern(7), pattern(7), pattern(8)
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 gave different faults at call %d", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 30 || n > 90 {
		t.Fatalf("%d of 200 calls failed with probability 0.3", n)
	}
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Fatal("seeds 7 and 8 gave the same faults")
	}
}

// switchControl stands the outage switch in for a server the suite stops and starts.
type switchControl struct{ s *faulty.Switch }

func (c switchControl) Stop(testing.TB)  { c.s.Down() }
func (c switchControl) Start(testing.TB) { c.s.Up() }

// TestConformanceWithOutage runs the suite on faulty(memory) with no random faults but
// an outage switch, so that the suite's fault checks run without a real server.
func TestConformanceWithOutage(t *testing.T) {
	outage := &faulty.Switch{}
	conformance.Run(t, conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			store := memory.NewStore()
			return func(t testing.TB) storage.Driver {
				d := faulty.New(memory.New(store), faulty.Config{}, outage)
				t.Cleanup(func() { d.Close() })
				return d
			}
		},
		Server: switchControl{outage},
	})
}
