package metastore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/metastore/metastoretest"
	"github.com/lectern/lectern/core/storage"
)

// failingDeletes fails the deletes of keys ending in suffix while armed.
type failingDeletes struct {
	storage.Driver
	suffix string
	armed  atomic.Bool
}

func (d *failingDeletes) Delete(ctx context.Context, key string) error {
	if d.armed.Load() && strings.HasSuffix(key, d.suffix) {
		return storage.NewError(storage.ErrUnavailable, "delete", key, nil)
	}
	return d.Driver.Delete(ctx, key)
}

// TestSnapshotFailsWhenADeletedDocumentsFileCannotBeRemoved: a snapshot that cannot
// remove a file of a deleted document (either copy) must fail and keep the delete
// record in the journal. Were it to ignore the failed delete, it would trim the
// journal, the surviving file would be the only trace of the document, and the
// deleted document would come back at the next open.
func TestSnapshotFailsWhenADeletedDocumentsFileCannotBeRemoved(t *testing.T) {
	gone := metastore.Doc{Kind: metastore.SlideSet, ID: "aaa"}
	for _, tc := range []struct{ name, suffix string }{
		{"primary", gone.PrimaryKey()},
		{"backup", gone.BackupKey()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			sealer, err := metastoretest.NewSealer(nil)
			if err != nil {
				t.Fatal(err)
			}
			d := &failingDeletes{Driver: memory.New(memory.NewStore()), suffix: tc.suffix}
			b := storage.NewBucket(d)
			opts := metastore.Options{SnapshotInterval: -1, Logger: slog.New(slog.DiscardHandler)}
			s, err := metastore.Open(ctx, b, "m/", sealer, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, gone, []byte("v1")); err != nil {
				t.Fatal(err)
			}
			if err := s.Snapshot(ctx); err != nil { // both files of the document exist
				t.Fatal(err)
			}
			if err := s.Delete(ctx, gone); err != nil {
				t.Fatal(err)
			}
			// The journal always keeps its newest record: a later change of another
			// document lets the trim reach the delete record.
			if err := s.Put(ctx, metastore.Doc{Kind: metastore.SlideSet, ID: "aab"}, []byte("x")); err != nil {
				t.Fatal(err)
			}
			d.armed.Store(true)
			if err := s.Snapshot(ctx); err == nil {
				t.Error("Snapshot reported success though a file of the deleted document could not be removed")
			}
			d.armed.Store(false)
			s.Abandon()

			s2, err := metastore.Open(ctx, b, "m/", sealer, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s2.Close(context.Background()) })
			if got, err := s2.Get(ctx, gone); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("deleted document after reopen: %q, %v; want ErrNotFound", got, err)
			}
		})
	}
}
