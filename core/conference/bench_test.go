package conference_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"testing"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/storage"
)

// Benchmarks of the engine's content path against raw I/O of the same bytes on the
// same backend, in the same run (docs/benchmarks.md has the numbers):
//
//	go test -run '^$' -bench 'Content' -benchtime 5x -count 3 ./core/conference
//
// Raw/put is bucket.Put of the plaintext; Engine/store is encrypt + put. Raw/get is a
// bucket.Get read to the end; Engine/open is ranged get + decrypt + authenticate.
func BenchmarkContent(b *testing.B) {
	for _, size := range []int{1 << 20, 256 << 20} {
		data := make([]byte, size)
		rand.Read(data)
		name := fmt.Sprintf("%dMiB", size>>20)
		bucket, eng := benchEngine(b)
		ctx := context.Background()

		b.Run("Raw/put/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				if _, err := bucket.Put(ctx, fmt.Sprintf("raw/%d", i), bytes.NewReader(data), storage.PutOptions{Size: int64(size)}); err != nil {
					b.Fatal(err)
				}
			}
		})
		var stored conference.Stored
		b.Run("Engine/store/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				st, err := eng.StoreContent(ctx, "bench", conference.SlideContent, "bin", bytes.NewReader(data), int64(size))
				if err != nil {
					b.Fatal(err)
				}
				stored = st
			}
		})
		b.Run("Raw/get/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				rc, _, err := bucket.Get(ctx, "raw/0", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
		b.Run("Engine/open/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				rc, _, err := eng.OpenContent(ctx, "bench", stored.Name, stored.Key, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}

func benchEngine(b *testing.B) (*storage.Bucket, *conference.Engine) {
	b.Helper()
	d, err := disk.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	bucket := storage.NewBucket(d)
	var kek [32]byte
	rand.Read(kek[:])
	limits := conference.DefaultLimits()
	limits.MaxContentFile, limits.MaxConferenceContent = 1<<40, 1<<40
	eng, err := conference.New(conference.Config{Bucket: bucket, KEK: kek, Limits: limits, SnapshotInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close(context.Background()) })
	if _, err := eng.CreateConference(context.Background(), conference.CreateParams{ID: "bench", Organizer: "sip:bench@example.com"}); err != nil {
		b.Fatal(err)
	}
	return bucket, eng
}
