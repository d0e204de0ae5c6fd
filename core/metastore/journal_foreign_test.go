package metastore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/metastore/metastoretest"
	"github.com/lectern/lectern/core/storage"
)

// lostRefusal turns a create-only journal put's ErrPrecondition into ErrUnavailable,
// as a reply lost on the way would: the caller cannot tell whether its put happened.
type lostRefusal struct{ storage.Driver }

func (d lostRefusal) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	a, err := d.Driver.Put(ctx, key, r, o)
	if errors.Is(err, storage.ErrPrecondition) && strings.Contains(key, metastore.JournalPrefix) {
		return a, storage.NewError(storage.ErrUnavailable, "put", key, nil)
	}
	return a, err
}

// TestRetractionLeavesAnotherStoresRecord: a Store whose journal put "failed" takes
// the record back, in case the put happened after all; it must only remove its own
// bytes. When another Store won that sequence number, deleting the record would lose
// that Store's acknowledged change at the next crash.
func TestRetractionLeavesAnotherStoresRecord(t *testing.T) {
	ctx := t.Context()
	sealer, err := metastoretest.NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewStore()
	opts := metastore.Options{SnapshotInterval: -1, JournalSoftLimit: -1, Logger: slog.New(slog.DiscardHandler)}
	a, err := metastore.Open(ctx, storage.NewBucket(lostRefusal{memory.New(mem)}), "m/", sealer, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := metastore.Open(ctx, storage.NewBucket(memory.New(mem)), "m/", sealer, opts)
	if err != nil {
		t.Fatal(err)
	}
	won := metastore.Doc{Kind: metastore.SlideSet, ID: "aaa"}
	if err := b.Put(ctx, won, []byte("B's acknowledged change")); err != nil {
		t.Fatal(err)
	}
	// A tries the same sequence number; its put is refused, but A sees an outage.
	if err := a.Put(ctx, metastore.Doc{Kind: metastore.SlideSet, ID: "aab"}, []byte("A")); err == nil {
		t.Fatal("setup: A's put succeeded")
	}
	a.Abandon()
	b.Abandon() // a crash: only the journal holds B's change
	c, err := metastore.Open(ctx, storage.NewBucket(memory.New(mem)), "m/", sealer, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Abandon)
	if got, err := c.Get(ctx, won); err != nil || string(got) != "B's acknowledged change" {
		t.Fatalf("B's document after reopen: %q, %v", got, err)
	}
}

// TestStrayJournalFilesAreIgnored: a file under journal/ whose name is not a
// 20-digit sequence number (an operator's note, a short number a tool left) is not a
// record: opening logs it and goes on, rather than failing the folder's open (and
// with it the conference) or reading it as a damaged record.
func TestStrayJournalFilesAreIgnored(t *testing.T) {
	for _, name := range []string{"README", "123", "000000000000000000001", "0000000000000000000x"} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			env := metastoretest.NewEnv(t, memoryHarness())
			s := env.Store(t, metastore.Options{})
			d := metastore.Doc{Kind: metastore.SlideSet, ID: "aaa"}
			if err := s.Put(ctx, d, []byte("kept")); err != nil {
				t.Fatal(err)
			}
			s.Abandon() // a crash: the change is only in the journal
			env.SetRaw(t, metastore.JournalPrefix+name, []byte("not a sealed record"))
			s2 := env.Store(t, metastore.Options{})
			t.Cleanup(func() { s2.Close(context.Background()) })
			if got, err := s2.Get(ctx, d); err != nil || string(got) != "kept" {
				t.Fatalf("document after reopen: %q, %v", got, err)
			}
			if !env.Log.Has(slog.LevelWarn, metastore.JournalPrefix+name) {
				t.Error("the stray file was not logged")
			}
		})
	}
}
