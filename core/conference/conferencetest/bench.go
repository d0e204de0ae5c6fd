package conferencetest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"testing"

	"github.com/lectern/lectern/core/conference"
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
