package metastore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/metastore/metastoretest"
	"github.com/lectern/lectern/core/storage"
)

// benchDoc is the size of a typical slide set with a few annotated slides.
const benchDocSize = 4 << 10

// reportLatency reports the median and 99th percentile of the recorded latencies.
func reportLatency(b *testing.B, lat []time.Duration, prefix string) (p50, p99 float64) {
	b.Helper()
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	p50, p99 = ms(0.50), ms(0.99)
	b.ReportMetric(p50, prefix+"p50-ms")
	b.ReportMetric(p99, prefix+"p99-ms")
	return p50, p99
}

// BenchmarkJournalAppendDisk measures an acknowledged change (Store.Put returning)
// on the disk backend, with writers changing different documents at once, against the
// raw backend's create-only put of the same number of bytes in the same run. ns/op
// covers both; the latency metrics are separate.
func BenchmarkJournalAppendDisk(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			ctx := context.Background()
			drv, err := disk.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			bucket := storage.NewBucket(drv)
			sealer, err := metastoretest.NewSealer(nil)
			if err != nil {
				b.Fatal(err)
			}
			// The periodic snapshot stays off so that the numbers are the journal's;
			// the crash test covers snapshots running alongside.
			s, err := metastore.Open(ctx, bucket, "meta/bench/", sealer, metastore.Options{SnapshotInterval: -1, JournalSoftLimit: -1})
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, benchDocSize)
			sealed, _ := sealer.Seal(data)
			// Each writer alternates a Put with a raw create-only put of the same
			// sealed size, so that both see the same load on this shared machine.
			var mu sync.Mutex
			var lat, raw []time.Duration
			var wg sync.WaitGroup
			per := (b.N + writers - 1) / writers
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					doc := metastore.Doc{Kind: metastore.SlideSet, ID: metastore.FormatID(uint64(w))}
					mine, mineRaw := make([]time.Duration, 0, per), make([]time.Duration, 0, per)
					for i := range per {
						t0 := time.Now()
						if err := s.Put(ctx, doc, data); err != nil {
							b.Error(err)
							return
						}
						t1 := time.Now()
						if _, err := bucket.PutBytes(ctx, fmt.Sprintf("raw/%d/%d", w, i), sealed, storage.Condition{IfNotExists: true}); err != nil {
							b.Error(err)
							return
						}
						mine, mineRaw = append(mine, t1.Sub(t0)), append(mineRaw, time.Since(t1))
					}
					mu.Lock()
					lat, raw = append(lat, mine...), append(raw, mineRaw...)
					mu.Unlock()
				})
			}
			wg.Wait()
			b.StopTimer()
			p50, p99 := reportLatency(b, lat, "")
			rawP50, rawP99 := reportLatency(b, raw, "raw-")
			if rawP50 > 0 && rawP99 > 0 {
				b.ReportMetric(p50/rawP50, "p50-vs-raw")
				b.ReportMetric(p99/rawP99, "p99-vs-raw")
			}
		})
	}
}
