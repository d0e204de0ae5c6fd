package s3_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/conference/conferencetest"
	"github.com/lectern/lectern/core/layout"
)

// BenchmarkListConferences: the engine's ListConferences of 300 conferences on MinIO
// (the admin's GET /v1/conferences) against minio-go reading the same objects one
// after another (the index listing, each index entry, each conference.xml), as a
// listing without parallel reads would. Above 1, the parallel reads win.
func BenchmarkListConferences(b *testing.B) {
	const n = 300
	bucket, mc, name := benchFixture(b)
	ctx := context.Background()
	kek := [32]byte{1, 2, 3} // any key but zero; the two engines share it
	newEngine := func() *conference.Engine {
		e, err := conference.New(conference.Config{Bucket: bucket, KEK: kek, SnapshotInterval: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = e.Close(context.Background()) })
		return e
	}
	creator := newEngine()
	for i := range n {
		p := conference.CreateParams{ID: fmt.Sprintf("conf-%03d", i), Organizer: fmt.Sprintf("sip:org%d@example.com", i%20)}
		if _, err := creator.CreateConference(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	lister := newEngine() // has nothing open: every conference is read from the store
	// The backend stores key K as the object "K!" whose body is a 16-byte random header
	// and the data (see "Object format" in the package documentation).
	read := func(object string) []byte {
		obj, err := mc.GetObject(ctx, name, object, miniogo.GetObjectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer obj.Close()
		data, err := io.ReadAll(obj)
		if err != nil {
			b.Fatal(err)
		}
		return data[16:]
	}
	raw := func() time.Duration {
		t0, listed := time.Now(), 0
		for obj := range mc.ListObjects(ctx, name, miniogo.ListObjectsOptions{Prefix: layout.IndexRoot + "/", Recursive: true}) {
			if obj.Err != nil {
				b.Fatal(obj.Err)
			}
			id := strings.TrimSuffix(strings.TrimPrefix(obj.Key, layout.IndexRoot+"/"), "!")
			loc := layout.Conference{OrgHash: string(read(obj.Key)), ID: id}
			read(loc.ConferenceFile() + "!")
			listed++
		}
		if listed != n {
			b.Fatalf("minio-go listed %d conferences, want %d", listed, n)
		}
		return time.Since(t0)
	}
	ours := func() time.Duration {
		t0 := time.Now()
		list, err := lister.ListConferences(ctx)
		if err != nil || len(list) != n {
			b.Fatalf("ListConferences: %d conferences, %v", len(list), err)
		}
		return time.Since(t0)
	}
	rawMean, oursMean := conferencetest.Paired(b, raw, ours)
	b.ReportMetric(n, "conferences")
	b.ReportMetric(float64(rawMean.Microseconds())/1e3, "minio-go-ms")
	b.ReportMetric(float64(oursMean.Microseconds())/1e3, "lectern-ms")
	b.ReportMetric(rawMean.Seconds()/oursMean.Seconds(), "ratio")
}
