package metastore_test

import (
	"context"
	"errors"
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

// countingReads counts the bytes read from the bodies of one key's Gets.
type countingReads struct {
	storage.Driver
	key string
	n   *atomic.Int64
}

func (d countingReads) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := d.Driver.Get(ctx, key, offset, length)
	if err != nil || key != d.key {
		return rc, a, err
	}
	return struct {
		io.Reader
		io.Closer
	}{readerFunc(func(p []byte) (int, error) { n, err := rc.Read(p); d.n.Add(int64(n)); return n, err }), rc}, a, nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestOversizedFilesAreDamage: a file larger than any this store writes (a document
// and its envelope) is not read into memory whole, and counts as damaged: a document
// copy is healed from the other one, an id file is rebuilt, and a journal record
// stops the open, as one that does not decrypt does.
func TestOversizedFilesAreDamage(t *testing.T) {
	ctx := t.Context()
	sealer, err := metastoretest.NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := metastore.Options{SnapshotInterval: -1, Logger: slog.New(slog.DiscardHandler)}
	huge := make([]byte, metastore.MaxDocumentSize+1<<20)
	doc := metastore.Doc{Kind: metastore.SlideSet, ID: "aaa"}
	var read atomic.Int64 // bytes read of the oversized file
	setUp := func(t *testing.T, oversized string) *storage.Bucket {
		t.Helper()
		read.Store(0)
		b := storage.NewBucket(countingReads{Driver: memory.New(memory.NewStore()), key: "m/" + oversized, n: &read})
		s, err := metastore.Open(ctx, b, "m/", sealer, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, doc, []byte("kept")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.NextID(ctx, metastore.SlideSet); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(ctx); err != nil { // snapshot: both copies, the journal trimmed
			t.Fatal(err)
		}
		return b
	}
	overwrite := func(t *testing.T, b *storage.Bucket, key string) {
		t.Helper()
		if _, err := b.PutBytes(ctx, "m/"+key, huge, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
		read.Store(0)
		t.Cleanup(func() {
			if n := read.Load(); n > 1<<20 {
				t.Errorf("%d bytes of the oversized file were read", n)
			}
		})
	}

	t.Run("document copy", func(t *testing.T) {
		b := setUp(t, doc.PrimaryKey())
		overwrite(t, b, doc.PrimaryKey())
		s, err := metastore.Open(ctx, b, "m/", sealer, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		if got, err := s.Get(ctx, doc); err != nil || string(got) != "kept" {
			t.Fatalf("Get with an oversized primary: %q, %v; want the backup's", got, err)
		}
		if a, err := b.Stat(ctx, "m/"+doc.PrimaryKey()); err != nil || a.Size > metastore.MaxDocumentSize {
			t.Fatalf("the oversized primary was not healed: %+v, %v", a, err)
		}
	})
	t.Run("id file", func(t *testing.T) {
		b := setUp(t, metastore.MaxIDKey(metastore.SlideSet))
		overwrite(t, b, metastore.MaxIDKey(metastore.SlideSet))
		s, err := metastore.Open(ctx, b, "m/", sealer, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		if _, err := s.NextID(ctx, metastore.SlideSet); err != nil {
			t.Fatalf("NextID with an oversized id file: %v", err)
		}
	})
	t.Run("journal record", func(t *testing.T) {
		record := metastore.JournalPrefix + "00000000000000000099"
		b := setUp(t, record)
		overwrite(t, b, record)
		if _, err := metastore.Open(ctx, b, "m/", sealer, opts); !errors.Is(err, metastore.ErrCorrupt) {
			t.Fatalf("Open with an oversized journal record: %v, want ErrCorrupt", err)
		}
	})
}
