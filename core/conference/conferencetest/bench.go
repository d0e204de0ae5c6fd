package conferencetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// BenchConference is the conference BenchEngine creates.
const BenchConference = "bench"

// BenchEngine returns an engine over bucket with one conference, BenchConference,
// whose limits fit any benchmark, so that a backend's benchmarks can measure the
// engine's encrypt-and-store against the backend's raw writes in the same run.
func BenchEngine(tb testing.TB, bucket *storage.Bucket) *conference.Engine {
	tb.Helper()
	var kek [32]byte
	_, _ = rand.Read(kek[:])
	limits := conference.DefaultLimits()
	limits.MaxContentFile, limits.MaxConferenceContent = 1<<40, 1<<40
	limits.MaxContentFiles = 1 << 20
	eng, err := conference.New(conference.Config{Bucket: bucket, KEK: kek, Limits: limits, SnapshotInterval: -1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = eng.Close(context.Background()) })
	if _, err := eng.CreateConference(context.Background(), conference.CreateParams{ID: BenchConference, Organizer: "sip:bench@example.com"}); err != nil {
		tb.Fatal(err)
	}
	return eng
}

// StoreTree writes straight into the local folder root the files of a store shaped
// like n conferences as Lectern lays them out. Per conference: its index entry, 12
// files in its metadata folder and 4 in the handouts folder below it, 20 content
// files and the 2 files of an unfinished upload: 39 small files in 5 folders (the
// shape matters here, not the bytes). For the benchmarks of what walks a whole store,
// such as the retention sweep's look for leftovers of dead writes.
func StoreTree(tb testing.TB, root string, n int) (files int) {
	tb.Helper()
	body := make([]byte, 100)
	write := func(key string) {
		p := filepath.Join(root, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			tb.Fatal(err)
		}
		files++
	}
	for i := range n {
		loc := layout.Conference{OrgHash: layout.OrganizerHash(fmt.Sprintf("sip:org%d@example.com", i%50)), ID: fmt.Sprintf("conf-%05d", i)}
		write(layout.IndexKey(loc.ID))
		for j := range 12 {
			write(loc.MetadataPrefix() + fmt.Sprintf("set-%c%c%c.exml", 'a', 'a'+j/26, 'a'+j%26))
		}
		for j := range 4 {
			write(loc.MetadataPrefix() + fmt.Sprintf("ft/fileset-aa%c.exml", 'a'+j))
		}
		for j := range 20 {
			write(loc.ContentKey(fmt.Sprintf("x%032x.epng", i*100+j)))
		}
		write(layout.UploadRoot + "/" + loc.ID + "/0123456789abcdef0123456789abcdef/info")
		write(layout.UploadRoot + "/" + loc.ID + "/0123456789abcdef0123456789abcdef/part-0000000000")
	}
	return files
}

// Paired times raw and ours once in each iteration of b.Loop, alternating which goes
// first (on a machine shared with other work this is far steadier than comparing
// benchmarks run seconds apart), and returns the mean time of each.
func Paired(b *testing.B, raw, ours func() time.Duration) (rawMean, oursMean time.Duration) {
	var rawT, oursT time.Duration
	n := 0
	for b.Loop() {
		if n%2 == 0 {
			rawT += raw()
			oursT += ours()
		} else {
			oursT += ours()
			rawT += raw()
		}
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return rawT / time.Duration(n), oursT / time.Duration(n)
}

// BenchRemoveLeftovers times r's RemoveLeftovers (of writes older than a day, on a
// store where it finds none) against raw, a plain walk of the same store, with Paired,
// and reports each one's mean time, named rawName and lectern-ms, their ratio and the
// number of files.
func BenchRemoveLeftovers(b *testing.B, r storage.LeftoverRemover, files int, rawName string, raw func() time.Duration) {
	ours := func() time.Duration {
		t0 := time.Now()
		n, err := r.RemoveLeftovers(context.Background(), time.Now().Add(-24*time.Hour))
		if err != nil || n != 0 {
			b.Fatalf("RemoveLeftovers: %d removed, %v", n, err)
		}
		return time.Since(t0)
	}
	rawMean, oursMean := Paired(b, raw, ours)
	b.ReportMetric(float64(files), "files")
	b.ReportMetric(float64(rawMean.Microseconds())/1e3, rawName)
	b.ReportMetric(float64(oursMean.Microseconds())/1e3, "lectern-ms")
	b.ReportMetric(rawMean.Seconds()/oursMean.Seconds(), "ratio")
}
