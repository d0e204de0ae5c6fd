// Package conferencetest runs the conference engine's tests on any storage backend,
// through the conformance harness: conferences, master keys, slide sets of every
// kind, handouts, encrypted content with limits, restart, retention and compliance.
// The disk, S3 and SMB backends' tests call Run, so the engine is proven on each.
//
// It must not know any concrete backend.
package conferencetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
)

// Run runs every engine check against the harness's storage.
func Run(t *testing.T, h conformance.Harness) {
	checks := []struct {
		name string
		fn   func(t *testing.T, env *Env)
	}{
		{"ConferenceLifecycle", testConferenceLifecycle},
		{"ConferenceIDsAreUniqueAcrossEngines", testConferenceIDRace},
		{"MasterKeyNeedsTheKEK", testMasterKeyNeedsKEK},
		{"SlideSetsOfEveryKind", testSlideSetsOfEveryKind},
		{"SlideSetOperations", testSlideSetOperations},
		{"SlideSetBadInput", testSlideSetBadInput},
		{"ContentRoundTripAndRanges", testContentRoundTrip},
		{"ContentIsCiphertextUnderRandomNames", testContentIsCiphertext},
		{"ContentWrongKey", testContentWrongKey},
		{"ContentLimits", testContentLimits},
		{"ContentReferencesAreVerified", testContentReferencesVerified},
		{"ReferencedContentIsKept", testReferencedContentKept},
		{"StoreEncryptedAndCheckUpload", testStoreEncryptedAndCheckUpload},
		{"Handouts", testHandouts},
		{"RestartKeepsEverything", testRestart},
		{"CrashWithoutCloseKeepsAcknowledged", testCrashWithoutClose},
		{"EndedConferenceRefusesChanges", testEnded},
		{"RetentionRemovesExpired", testRetention},
		{"OrphansAreCollected", testOrphans},
		{"SweepLease", testSweepLease},
		{"SweepRemovesLeftoversOfDeadWrites", testSweepLeftovers},
		{"UnfinishedDeletesAreFinished", testUnfinishedDeletes},
		{"DeleteRacingAnOpenLeavesNothing", testDeleteRacingAnOpen},
		{"Compliance", testCompliance},
		{"CloseIdle", testCloseIdle},
		{"CloseIdleRacingRequests", testCloseIdleRacingRequests},
		{"KEKRotation", testKEKRotation},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, newEnv(t, h))
		})
	}
}

// Env is one test's storage plus a settable clock.
type Env struct {
	open  conformance.Opener
	kek   [32]byte
	clock atomic.Int64 // unix nanoseconds
}

func newEnv(t *testing.T, h conformance.Harness) *Env {
	t.Helper()
	env := &Env{open: h.NewStorage(t)}
	if _, err := rand.Read(env.kek[:]); err != nil {
		t.Fatal(err)
	}
	env.clock.Store(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).UnixNano())
	return env
}

func (env *Env) now() time.Time { return time.Unix(0, env.clock.Load()).UTC() }

// Advance moves the clock.
func (env *Env) Advance(d time.Duration) { env.clock.Add(int64(d)) }

// Bucket opens a new backend instance over the test's storage.
func (env *Env) Bucket(t *testing.T) *storage.Bucket {
	t.Helper()
	return storage.NewBucket(env.open(t))
}

// Engine starts an engine over a new backend instance; it is closed at cleanup.
func (env *Env) Engine(t *testing.T, mutate ...func(*conference.Config)) *conference.Engine {
	t.Helper()
	cfg := conference.Config{Bucket: env.Bucket(t), KEK: env.kek, KEKID: "test-kek",
		SnapshotInterval: -1, Now: env.now}
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := conference.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func mustConference(t *testing.T, e *conference.Engine, id string) conference.Info {
	t.Helper()
	info, err := e.CreateConference(ctx(t), conference.CreateParams{ID: id, Organizer: "sip:vw01@contoso.com"})
	if err != nil {
		t.Fatalf("create conference %q: %v", id, err)
	}
	return info
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func store(t *testing.T, e *conference.Engine, conf string, p conference.Purpose, data []byte) conference.Stored {
	t.Helper()
	st, err := e.StoreContent(ctx(t), conf, p, "png", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("store content: %v", err)
	}
	return st
}

func readContent(t *testing.T, e *conference.Engine, conf, name string, key encryption.Key, off, n int64) ([]byte, error) {
	t.Helper()
	rc, _, err := e.OpenContent(ctx(t), conf, name, key, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
