package metastore_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/metastore/metastoretest"
	"github.com/lectern/lectern/core/storage"
)

// failingPuts fails the puts of keys ending in suffix while armed, as an outage would.
type failingPuts struct {
	storage.Driver
	suffix string
	armed  atomic.Bool
}

func (d *failingPuts) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if d.armed.Load() && strings.HasSuffix(key, d.suffix) {
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, nil)
	}
	return d.Driver.Put(ctx, key, r, o)
}

// TestFailedRepairIsRedoneBeforeTrim: a backup left behind by a crash between a
// snapshot's two writes, whose repair at the next open fails too, is written by the
// next snapshot before the journal records it lacks are trimmed. (The snapshot used
// to take the document for written out, trim the records, and leave it on one valid
// copy: damage to that copy then silently served the stale backup, losing an
// acknowledged change.)
func TestFailedRepairIsRedoneBeforeTrim(t *testing.T) {
	ctx := t.Context()
	sealer, err := metastoretest.NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &failingPuts{Driver: memory.New(memory.NewStore())}
	b := storage.NewBucket(d)
	opts := metastore.Options{SnapshotInterval: -1, Logger: slog.New(slog.DiscardHandler)}
	doc := metastore.Doc{Kind: metastore.SlideSet, ID: "aaa"}
	d.suffix = doc.BackupKey()
	const acknowledged = "v2 (acknowledged)"

	s1, err := metastore.Open(ctx, b, "m/", sealer, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", acknowledged} {
		if err := s1.Put(ctx, doc, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if v == acknowledged {
			d.armed.Store(true) // this snapshot's backup write fails (or the process dies there)
		}
		err := s1.Snapshot(ctx)
		if (err != nil) != (v == acknowledged) {
			t.Fatalf("snapshot after %q: %v", v, err)
		}
	}
	// A later change of another document: the journal always keeps its newest record,
	// so without it the record of the acknowledged change would survive any trim.
	if err := s1.Put(ctx, metastore.Doc{Kind: metastore.SlideSet, ID: "aab"}, []byte("b")); err != nil {
		t.Fatal(err)
	}
	s1.Abandon() // a crash

	s2, err := metastore.Open(ctx, b, "m/", sealer, opts) // its repair of the backup fails (still armed)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Get(ctx, doc); err != nil || string(got) != acknowledged {
		t.Fatalf("after the reopen: %q, %v", got, err)
	}
	d.armed.Store(false) // storage is fine again
	if err := s2.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// The primary is damaged later (bit rot, a partial restore): the backup must hold
	// the acknowledged change.
	raw, _, err := b.ReadAll(ctx, "m/"+doc.PrimaryKey())
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	if _, err := b.PutBytes(ctx, "m/"+doc.PrimaryKey(), raw, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	s3, err := metastore.Open(ctx, b, "m/", sealer, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s3.Close(context.Background()) })
	if got, err := s3.Get(ctx, doc); err != nil || string(got) != acknowledged {
		t.Fatalf("with the primary damaged: %q, %v; want %q", got, err, acknowledged)
	}
}
