package conference_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
)

// TestDamagedConferenceFiles: an index entry or conference.xml that no longer reads
// is the store's damage (metastore.ErrCorrupt), never the client's bad input: the API
// would otherwise answer a GET with 400 invalid_xml or invalid_id. A file far over
// any size the engine writes is damage too, and is not read into memory whole.
func TestDamagedConferenceFiles(t *testing.T) {
	const id = "damaged"
	tests := []struct {
		name    string
		key     func(info conference.Info) string
		content []byte
		// bound is the most bytes of the damaged file the engine may read.
		bound int64
	}{
		{"index entry not a hash", func(conference.Info) string { return layout.IndexKey(id) }, []byte("../../etc"), 1 << 10},
		{"index entry oversized", func(conference.Info) string { return layout.IndexKey(id) }, bytes.Repeat([]byte("a"), 8<<20), 1 << 10},
		{"conference.xml malformed", func(i conference.Info) string { return i.Location().ConferenceFile() }, []byte("<conference id="), metadata.MaxConferenceSize},
		{"conference.xml invalid", func(i conference.Info) string { return i.Location().ConferenceFile() }, []byte("<slides/>"), metadata.MaxConferenceSize},
		{"conference.xml oversized", func(i conference.Info) string { return i.Location().ConferenceFile() },
			append([]byte("<conference>"), bytes.Repeat([]byte(" "), 8<<20)...), metadata.MaxConferenceSize},
	}
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			store := memory.NewStore()
			bucket := storage.NewBucket(memory.New(store))
			info, err := engineOn(t, bucket, kek).CreateConference(ctx, conference.CreateParams{ID: id, Organizer: "sip:o@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			key := tc.key(info)
			if _, err := bucket.PutBytes(ctx, key, tc.content, storage.Condition{}); err != nil {
				t.Fatal(err)
			}
			var read atomic.Int64
			// A fresh engine: nothing cached, the files are read.
			e := engineOn(t, storage.NewBucket(readCounter{Driver: memory.New(store), key: key, n: &read}), kek)
			_, err = e.GetConference(ctx, id)
			if !errors.Is(err, metastore.ErrCorrupt) {
				t.Fatalf("GetConference: %v; want metastore.ErrCorrupt", err)
			}
			for _, clientMistake := range []error{metadata.ErrMalformed, metadata.ErrInvalid, metadata.ErrTooLarge, layout.ErrInvalidID, conference.ErrInvalidInput} {
				if errors.Is(err, clientMistake) {
					t.Errorf("GetConference: %v; it matches %v, a client's mistake", err, clientMistake)
				}
			}
			if n := read.Load(); n > tc.bound+1 {
				t.Errorf("%d bytes of the damaged file were read; the bound is %d", n, tc.bound)
			}
			if rep, err := e.Fsck(ctx, "", conference.FsckOptions{}); err != nil || rep.OK() {
				t.Fatalf("Fsck of the damaged store: %+v, %v; want a problem reported", rep, err)
			}
		})
	}
}

// readCounter counts the bytes read from the bodies of one key's Gets.
type readCounter struct {
	storage.Driver
	key string
	n   *atomic.Int64
}

func (d readCounter) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := d.Driver.Get(ctx, key, offset, length)
	if err != nil || key != d.key {
		return rc, a, err
	}
	return countedBody{rc, d.n}, a, nil
}

type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countedBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// engineOn returns an engine over bucket with no snapshot timer, closed at cleanup.
func engineOn(t *testing.T, bucket *storage.Bucket, kek [32]byte) *conference.Engine {
	t.Helper()
	e, err := conference.New(conference.Config{Bucket: bucket, KEK: kek, SnapshotInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}
