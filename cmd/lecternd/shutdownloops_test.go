package main

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// leaseKey is the engine's clean-up lease (docs/operations.md).
const leaseKey = layout.MetadataRoot + "/cleanup.lease"

// TestShutdownWaitsForTheSweep: a shutdown that comes while the retention sweep runs
// returns only after the sweep stopped and gave its clean-up lease back. Before, the
// process could exit first, and the other servers of a pool stood aside from
// sweeping until the lease expired.

func TestShutdownWaitsForTheSweep(t *testing.T) {
	d, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	inSweep := make(chan struct{})
	bucket := storage.NewBucket(&sweepBlocker{Driver: d, inSweep: inSweep})
	t.Cleanup(func() { bucket.Close() })
	saved := firstSweepAfter
	firstSweepAfter = 0
	t.Cleanup(func() { firstSweepAfter = saved })

	cfg := defaultConfig()
	kek := bytes.Repeat([]byte{7}, 32)
	ext, err := engineExtension(context.Background(), &Runtime{Config: cfg, Logger: slog.New(slog.DiscardHandler), Storage: bucket, KEK: kek, KEKID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-inSweep:
	case <-time.After(time.Minute):
		t.Fatal("the sweep did not start")
	}
	if _, err := bucket.Stat(context.Background(), leaseKey); err != nil {
		t.Fatalf("the sweep holds no lease: %v", err)
	}
	ext.OnShutdownStart()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ext.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := bucket.Stat(context.Background(), leaseKey); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after the shutdown the sweep's lease is still there (%v)", err)
	}
}

// sweepBlocker holds the sweep's listing of the conference index (which it makes
// with its lease held) until the sweep is cancelled, and returns a little after that,
// as a storage call does: a shutdown that does not wait for the sweep returns before
// it.
type sweepBlocker struct {
	storage.Driver
	inSweep chan struct{}
	once    sync.Once
}

func (b *sweepBlocker) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	if prefix != layout.IndexRoot+"/" {
		return b.Driver.List(ctx, prefix)
	}
	return func(yield func(storage.Attributes, error) bool) {
		b.once.Do(func() { close(b.inSweep) })
		<-ctx.Done()
		time.Sleep(200 * time.Millisecond)
		yield(storage.Attributes{}, ctx.Err())
	}
}
