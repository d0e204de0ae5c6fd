package prefixed_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/backends/prefixed"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

const prefix = "tenant/"

// noise are keys outside the prefix, some sharing its first bytes: the suite's
// listings (which expect exactly their own keys) fail if any leaks through.
var noise = []string{"tenant", "tenant-x/a", "tenanta", "other/tenant/a", "a"}

func newStore(t testing.TB) *memory.Store {
	t.Helper()
	store := memory.NewStore()
	b := storage.NewBucket(memory.New(store))
	for _, k := range noise {
		if _, err := b.PutBytes(t.Context(), k, []byte("noise"), storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			store := newStore(t)
			t.Cleanup(func() { checkNoise(t, store) })
			return func(t testing.TB) storage.Driver {
				d, err := prefixed.New(memory.New(store), prefix)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				return d
			}
		},
	})
}

// checkNoise verifies, after each check, that the keys outside the prefix are intact.
func checkNoise(t testing.TB, store *memory.Store) {
	b := storage.NewBucket(memory.New(store))
	for _, k := range noise {
		got, _, err := b.ReadAll(context.Background(), k) // t.Context is done in Cleanup
		if err != nil || string(got) != "noise" {
			t.Errorf("key %q outside the prefix was touched: %q, %v", k, got, err)
		}
	}
}

func TestMapping(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	d, err := prefixed.New(memory.New(store), prefix)
	if err != nil {
		t.Fatal(err)
	}
	b := storage.NewBucket(d)
	inner := storage.NewBucket(memory.New(store))
	if _, err := b.PutBytes(ctx, "a/b", []byte("x"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := inner.ReadAll(ctx, "tenant/a/b"); err != nil || string(got) != "x" {
		t.Fatalf("inner key tenant/a/b = %q, %v", got, err)
	}
	for a, err := range b.List(ctx, "") {
		if err != nil || a.Key != "a/b" {
			t.Fatalf("List yields %q, %v; want only %q", a.Key, err, "a/b")
		}
	}
	_, err = b.Stat(ctx, "missing")
	var se *storage.Error
	if !errors.As(err, &se) || !errors.Is(err, storage.ErrNotFound) || se.Key != "missing" {
		t.Fatalf("Stat of a missing key = %v; want ErrNotFound naming the caller's key", err)
	}
	if got := d.Capabilities().MaxKeyLength; got != storage.MaxKeyLength-len(prefix) {
		t.Fatalf("MaxKeyLength = %d, want %d", got, storage.MaxKeyLength-len(prefix))
	}
}

func TestNewRefusesBadPrefixes(t *testing.T) {
	for _, p := range []string{"", "/", "tenant", "/tenant/", "a/../b/", ".x/", `a\b/`, "a//"} {
		t.Run(p, func(t *testing.T) {
			if _, err := prefixed.New(memory.New(memory.NewStore()), p); !errors.Is(err, storage.ErrInvalidArgument) {
				t.Fatalf("New(%q) = %v, want ErrInvalidArgument", p, err)
			}
		})
	}
}
