// Package metastoretest is the metadata-persistence suite that every storage backend
// runs through its conformance harness: call Run from the backend's tests with the
// same conformance.Harness it gives the storage suite. It checks the guarantees of
// package metastore against the real backend: round trips, restarts, journal replay
// after a crash, healing of a damaged copy, a clear error when both copies are
// damaged, journal trimming and id allocation shared by several engines.
//
// It must not know any concrete backend; it only uses the Harness's Opener.
package metastoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
)

// Prefix is the folder the suite uses inside the harness's storage.
const Prefix = "meta/0123456789abcdef/conf-1/"

// Env is one test's storage: every Bucket it opens sees the same objects.
type Env struct {
	Open   conformance.Opener
	Sealer metastore.Sealer
	Prefix string
	Log    *LogRecorder
}

// NewEnv prepares fresh storage from the harness.
func NewEnv(t testing.TB, h conformance.Harness) *Env {
	t.Helper()
	s, err := NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Open: h.NewStorage(t), Sealer: s, Prefix: Prefix, Log: &LogRecorder{}}
}

// Bucket opens a new driver instance over the test's storage.
func (e *Env) Bucket(t testing.TB) *storage.Bucket {
	t.Helper()
	return storage.NewBucket(e.Open(t))
}

// Store opens a Store on a new driver instance. Unless opts say otherwise, there is
// no periodic or early snapshot, so that dropping the Store without Close is a crash.
func (e *Env) Store(t testing.TB, opts metastore.Options) *metastore.Store {
	t.Helper()
	return e.StoreOn(t, e.Bucket(t), opts)
}

// StoreOn is Store over a given bucket.
func (e *Env) StoreOn(t testing.TB, b *storage.Bucket, opts metastore.Options) *metastore.Store {
	t.Helper()
	if opts.SnapshotInterval == 0 {
		opts.SnapshotInterval = -1
	}
	if opts.JournalSoftLimit == 0 {
		opts.JournalSoftLimit = -1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(e.Log)
	}
	s, err := metastore.Open(context.Background(), b, e.Prefix, e.Sealer, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

// Run runs the persistence suite.
func Run(t *testing.T, h conformance.Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h conformance.Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"RestartSeesEverything", testRestart},
		{"JournalReplayAfterCrash", testReplay},
		{"AbandonWritesNothing", testAbandon},
		{"NewestCopyWins", testNewestWins},
		{"DamagedCopyIsHealed", testHealing},
		{"BothCopiesDamaged", testBothDamaged},
		{"SnapshotVerifiesBeforeBackup", testVerifyBeforeBackup},
		{"DamagedJournalRecord", testDamagedJournal},
		{"WrongKey", testWrongKey},
		{"SnapshotTrimsJournal", testTrim},
		{"TrimKeepsDeleteOrder", testTrimOrder},
		{"ConcurrentChanges", testConcurrentChanges},
		{"TwoStoresShareJournal", testSharedJournal},
		{"FailedPutNotApplied", testFailedPutNotApplied},
		{"IDSequence", testIDSequence},
		{"IDsAvoidExistingDocuments", testIDsAvoidExisting},
		{"StaleIDFileSkipsIDsInUse", testStaleIDFile},
		{"ConcurrentIDsAcrossStores", testConcurrentIDs},
		{"ConcurrentIDsByClaims", testConcurrentIDClaims},
		{"BadInput", testBadInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

var (
	setA = metastore.Doc{Kind: metastore.SlideSet, ID: "aaa"}
	setB = metastore.Doc{Kind: metastore.SlideSet, ID: "aab"}
	ftA  = metastore.Doc{Kind: metastore.Handout, ID: "aaa"}
)

func mustPut(t testing.TB, s *metastore.Store, d metastore.Doc, data string) {
	t.Helper()
	if err := s.Put(context.Background(), d, []byte(data)); err != nil {
		t.Fatalf("put %v: %v", d, err)
	}
}

func expectDoc(t testing.TB, s *metastore.Store, d metastore.Doc, want string) {
	t.Helper()
	got, err := s.Get(context.Background(), d)
	if err != nil {
		t.Fatalf("get %v: %v", d, err)
	}
	if string(got) != want {
		t.Fatalf("get %v = %q, want %q", d, got, want)
	}
}

func expectMissing(t testing.TB, s *metastore.Store, d metastore.Doc) {
	t.Helper()
	_, err := s.Get(context.Background(), d)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get %v: err = %v, want not found", d, err)
	}
}

func closeStore(t testing.TB, s *metastore.Store) {
	t.Helper()
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func expectList(t testing.TB, s *metastore.Store, k metastore.Kind, want ...string) {
	t.Helper()
	got, err := s.List(context.Background(), k)
	if err != nil {
		t.Fatalf("list %v: %v", k, err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("list %v = %v, want %v", k, got, want)
	}
}

// Keys lists the keys under the test's prefix, relative to it.
func (e *Env) Keys(t testing.TB, sub string) []string {
	t.Helper()
	var keys []string
	for a, err := range e.Bucket(t).List(context.Background(), e.Prefix+sub) {
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		keys = append(keys, strings.TrimPrefix(a.Key, e.Prefix))
	}
	return keys
}

// Raw reads a file under the prefix.
func (e *Env) Raw(t testing.TB, key string) []byte {
	t.Helper()
	b, _, err := e.Bucket(t).ReadAll(context.Background(), e.Prefix+key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// SetRaw overwrites a file under the prefix.
func (e *Env) SetRaw(t testing.TB, key string, data []byte) {
	t.Helper()
	if _, err := e.Bucket(t).PutBytes(context.Background(), e.Prefix+key, data, storage.Condition{}); err != nil {
		t.Fatalf("write %s: %v", key, err)
	}
}

// RemoveRaw deletes a file under the prefix.
func (e *Env) RemoveRaw(t testing.TB, key string) {
	t.Helper()
	if err := e.Bucket(t).Delete(context.Background(), e.Prefix+key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// CheckAllOpen fails unless every file under the prefix opens with the sealer.
func (e *Env) CheckAllOpen(t testing.TB) int {
	t.Helper()
	n := 0
	for _, k := range e.Keys(t, "") {
		if _, err := e.Sealer.Open(e.Raw(t, k)); err != nil {
			t.Errorf("%s does not open: %v", k, err)
		}
		n++
	}
	return n
}

func testRoundTrip(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	expectMissing(t, s, setA)
	expectList(t, s, metastore.SlideSet)
	mustPut(t, s, setA, "<set name='a'/>")
	mustPut(t, s, setB, "<set name='b'/>")
	mustPut(t, s, setA, "<set name='a2'/>")
	mustPut(t, s, ftA, "<fileset/>")
	expectDoc(t, s, setA, "<set name='a2'/>")
	expectDoc(t, s, ftA, "<fileset/>")
	expectList(t, s, metastore.SlideSet, "aaa", "aab")
	expectList(t, s, metastore.Handout, "aaa")
	if err := s.Delete(ctx, setB); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, setB); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	expectMissing(t, s, setB)
	expectList(t, s, metastore.SlideSet, "aaa")
	if err := s.Put(ctx, setB, nil); err != nil {
		t.Fatal(err)
	}
	expectDoc(t, s, setB, "")
	closeStore(t, s)

	// The seeds' file names, both copies, and nothing in plain text.
	want := map[string]bool{"set-aaa.exml": true, "set-s-aaa.exml": true, "set-aab.exml": true, "set-s-aab.exml": true,
		"ft/fileset-aaa.exml": true, "ft/fileset-s-aaa.exml": true}
	for _, k := range env.Keys(t, "") {
		if bytes.Contains(env.Raw(t, k), []byte("<set")) {
			t.Errorf("%s holds plain text", k)
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Errorf("files missing after close: %v", want)
	}
	if _, err := s.Get(ctx, setA); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("get after close: %v, want ErrClosed", err)
	}
	if err := s.Put(ctx, setA, []byte("x")); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("put after close: %v, want ErrClosed", err)
	}
}

func testRestart(t *testing.T, h conformance.Harness) {
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	want := map[metastore.Doc]string{}
	for i := range 20 {
		d := metastore.Doc{Kind: metastore.Kinds[i%2], ID: metastore.FormatID(uint64(i / 2))}
		want[d] = fmt.Sprintf("doc %v rev %d", d, i)
		mustPut(t, s, d, want[d])
	}
	closeStore(t, s)
	if j := env.Keys(t, metastore.JournalPrefix); len(j) > 1 {
		t.Errorf("after close the journal holds %d records, want at most 1", len(j))
	}
	s2 := env.Store(t, metastore.Options{})
	for d, v := range want {
		expectDoc(t, s2, d, v)
	}
	expectList(t, s2, metastore.Handout, "aaa", "aab", "aac", "aad", "aae", "aaf", "aag", "aah", "aai", "aaj")
	// Changes after a restart still win over the snapshot.
	mustPut(t, s2, setA, "after restart")
	closeStore(t, s2)
	s3 := env.Store(t, metastore.Options{})
	expectDoc(t, s3, setA, "after restart")
	closeStore(t, s3)
	if n := env.CheckAllOpen(t); n == 0 {
		t.Error("no files")
	}
}

func testReplay(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, setA, "v1")
	mustPut(t, s, setB, "b1")
	if err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, setA, "v2")
	mustPut(t, s, ftA, "f1")
	if err := s.Delete(ctx, setB); err != nil {
		t.Fatal(err)
	}
	// Crash: drop s without Close. Only the journal knows v2, f1 and the delete.
	if keys := env.Keys(t, "ft/"); len(keys) != 0 {
		t.Fatalf("handout files exist before any snapshot: %v", keys)
	}
	s2 := env.Store(t, metastore.Options{})
	expectDoc(t, s2, setA, "v2")
	expectDoc(t, s2, ftA, "f1")
	expectMissing(t, s2, setB)
	expectList(t, s2, metastore.SlideSet, "aaa")
	// A second crash right after recovery loses nothing either.
	s3 := env.Store(t, metastore.Options{})
	expectDoc(t, s3, setA, "v2")
	closeStore(t, s3)
	s4 := env.Store(t, metastore.Options{})
	expectDoc(t, s4, setA, "v2")
	expectDoc(t, s4, ftA, "f1")
	expectMissing(t, s4, setB)
	closeStore(t, s4)
	for _, k := range env.Keys(t, "") {
		if strings.Contains(k, "aab") {
			t.Errorf("deleted document's file %s survived", k)
		}
	}
}

// snapshotOf returns the raw primary of d after writing data and snapshotting.
func snapshotOf(t *testing.T, env *Env, s *metastore.Store, d metastore.Doc, data string) []byte {
	t.Helper()
	mustPut(t, s, d, data)
	if err := s.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	return env.Raw(t, d.PrimaryKey())
}

func testNewestWins(t *testing.T, h conformance.Harness) {
	for _, stale := range []string{"backup", "primary"} {
		t.Run("stale "+stale, func(t *testing.T) {
			env := NewEnv(t, h)
			s := env.Store(t, metastore.Options{})
			old := snapshotOf(t, env, s, setA, "old")
			snapshotOf(t, env, s, setA, "new")
			// A newer change elsewhere lets the snapshot trim all of setA's journal
			// records, so only its two files can answer.
			mustPut(t, s, setB, "elsewhere")
			closeStore(t, s)
			for _, k := range env.Keys(t, metastore.JournalPrefix) {
				if f, err := metastore.OpenFile(env.Sealer, k, env.Raw(t, k)); err != nil || f.Doc == setA {
					t.Fatalf("journal record %s of %v survived the snapshot (%v)", k, f.Doc, err)
				}
			}
			// A crash between the two writes leaves one copy a generation behind.
			staleKey, freshKey := setA.BackupKey(), setA.PrimaryKey()
			if stale == "primary" {
				staleKey, freshKey = freshKey, staleKey
			}
			env.SetRaw(t, staleKey, old)
			s2 := env.Store(t, metastore.Options{})
			expectDoc(t, s2, setA, "new")
			if !bytes.Equal(env.Raw(t, staleKey), env.Raw(t, freshKey)) {
				t.Errorf("stale %s was not brought up to date", staleKey)
			}
			closeStore(t, s2)
		})
	}
}

type damage struct {
	name string
	fn   func(t *testing.T, env *Env, key string)
}

var damages = []damage{
	{"garbage", func(t *testing.T, env *Env, key string) { env.SetRaw(t, key, []byte("not a sealed file at all")) }},
	{"empty", func(t *testing.T, env *Env, key string) { env.SetRaw(t, key, nil) }},
	{"truncated", func(t *testing.T, env *Env, key string) {
		b := env.Raw(t, key)
		env.SetRaw(t, key, b[:len(b)/2])
	}},
	{"bit flipped", func(t *testing.T, env *Env, key string) {
		b := bytes.Clone(env.Raw(t, key))
		b[len(b)/2] ^= 0x10
		env.SetRaw(t, key, b)
	}},
	{"another document's file", func(t *testing.T, env *Env, key string) {
		env.SetRaw(t, key, env.Raw(t, setB.PrimaryKey()))
	}},
	{"missing", func(t *testing.T, env *Env, key string) { env.RemoveRaw(t, key) }},
}

func testHealing(t *testing.T, h conformance.Harness) {
	for _, which := range []string{"primary", "backup"} {
		for _, dmg := range damages {
			t.Run(which+" "+dmg.name, func(t *testing.T) {
				env := NewEnv(t, h)
				s := env.Store(t, metastore.Options{})
				mustPut(t, s, setA, "precious")
				mustPut(t, s, setB, "other")
				closeStore(t, s)
				bad, good := setA.PrimaryKey(), setA.BackupKey()
				if which == "backup" {
					bad, good = good, bad
				}
				dmg.fn(t, env, bad)
				env.Log.Reset()
				s2 := env.Store(t, metastore.Options{})
				expectDoc(t, s2, setA, "precious")
				if !bytes.Equal(env.Raw(t, bad), env.Raw(t, good)) {
					t.Errorf("%s was not healed from %s", bad, good)
				}
				if dmg.name != "missing" && !env.Log.Has(slog.LevelWarn, setA.String()) {
					t.Errorf("damage to %s was not logged as a warning; log: %v", bad, env.Log.Messages())
				}
				closeStore(t, s2)
				env.CheckAllOpen(t)
			})
		}
	}
}

func testBothDamaged(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, setA, "precious")
	mustPut(t, s, setB, "other")
	closeStore(t, s)
	env.SetRaw(t, setA.PrimaryKey(), []byte("junk"))
	env.SetRaw(t, setA.BackupKey(), env.Raw(t, setB.BackupKey()))
	s2 := env.Store(t, metastore.Options{})
	_, err := s2.Get(ctx, setA)
	if !errors.Is(err, metastore.ErrCorrupt) || errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get with both copies damaged: %v, want ErrCorrupt", err)
	}
	if !env.Log.Has(slog.LevelError, setA.String()) {
		t.Errorf("both copies damaged was not logged as an error; log: %v", env.Log.Messages())
	}
	// The damaged files are left for an operator; the other document is unaffected.
	expectDoc(t, s2, setB, "other")
	// A new version replaces the damaged document; deleting one removes it.
	mustPut(t, s2, setA, "rewritten")
	if err := s2.Delete(ctx, setB); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s2, ftA, "newest record") // so that setB's delete record is trimmed
	closeStore(t, s2)
	env.SetRaw(t, setB.PrimaryKey(), []byte("junk"))
	env.SetRaw(t, setB.BackupKey(), []byte("junk"))
	s3 := env.Store(t, metastore.Options{})
	expectDoc(t, s3, setA, "rewritten")
	if err := s3.Delete(ctx, setB); err != nil {
		t.Fatalf("delete of a document with both copies damaged: %v", err)
	}
	expectMissing(t, s3, setB)
	closeStore(t, s3)
	s3 = env.Store(t, metastore.Options{})
	expectMissing(t, s3, setB)
	closeStore(t, s3)
	env.CheckAllOpen(t)
}

func testDamagedJournal(t *testing.T, h conformance.Harness) {
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, setA, "v1")
	mustPut(t, s, setA, "v2")
	journal := env.Keys(t, metastore.JournalPrefix)
	if len(journal) != 2 {
		t.Fatalf("journal = %v, want 2 records", journal)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("junk")},
		{"another record", env.Raw(t, journal[1])}, // record 2 renamed as record 1
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := env.Raw(t, journal[0])
			env.SetRaw(t, journal[0], tc.data)
			_, err := metastore.Open(context.Background(), env.Bucket(t), env.Prefix, env.Sealer,
				metastore.Options{SnapshotInterval: -1, Logger: slog.New(env.Log)})
			if !errors.Is(err, metastore.ErrCorrupt) {
				t.Fatalf("open with a damaged journal record: %v, want ErrCorrupt", err)
			}
			env.SetRaw(t, journal[0], saved)
		})
	}
	s2 := env.Store(t, metastore.Options{})
	expectDoc(t, s2, setA, "v2")
}

func testWrongKey(t *testing.T, h conformance.Harness) {
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, setA, "secret")
	closeStore(t, s)
	other, err := NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := metastore.Options{SnapshotInterval: -1, Logger: slog.New(env.Log)}
	// The journal's newest record is kept after a snapshot, so replay meets it first.
	if _, err := metastore.Open(context.Background(), env.Bucket(t), env.Prefix, other, opts); !errors.Is(err, metastore.ErrCorrupt) {
		t.Fatalf("open with the wrong key: %v, want ErrCorrupt", err)
	}
	for _, k := range env.Keys(t, metastore.JournalPrefix) {
		env.RemoveRaw(t, k)
	}
	s2, err := metastore.Open(context.Background(), env.Bucket(t), env.Prefix, other, opts)
	if err != nil {
		t.Fatalf("open without journal: %v", err)
	}
	if _, err = s2.Get(context.Background(), setA); !errors.Is(err, metastore.ErrCorrupt) {
		t.Fatalf("get with the wrong key: %v, want ErrCorrupt", err)
	}
	if _, err := s2.NextID(context.Background(), metastore.SlideSet); err != nil {
		t.Fatalf("first id with no id file yet: %v", err)
	}
	// With the right key, the id file (sealed with the other) is damaged: it is
	// rebuilt well above every id in use, and counts on from there.
	s3 := env.Store(t, metastore.Options{})
	id, err := s3.NextID(context.Background(), metastore.SlideSet)
	if err != nil {
		t.Fatalf("id with a damaged id file: %v", err)
	}
	n, _ := metastore.ParseID(id)
	if inUse, _ := metastore.ParseID(setA.ID); n <= inUse+100 {
		t.Fatalf("id %s after a damaged id file: too close to %s, in use (an id of a deleted document may be in between)", id, setA.ID)
	}
	if next, err := s3.NextID(context.Background(), metastore.SlideSet); err != nil || next != metastore.FormatID(n+1) {
		t.Fatalf("the id after %s: %s, %v; want %s", id, next, err, metastore.FormatID(n+1))
	}
}

func testTrim(t *testing.T, h conformance.Harness) {
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	for i := range 30 {
		mustPut(t, s, metastore.Doc{Kind: metastore.SlideSet, ID: metastore.FormatID(uint64(i % 5))}, fmt.Sprint("rev ", i))
	}
	if n := len(env.Keys(t, metastore.JournalPrefix)); n != 30 {
		t.Fatalf("journal holds %d records before the snapshot, want 30", n)
	}
	if err := s.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(env.Keys(t, metastore.JournalPrefix)); n != 1 {
		t.Fatalf("journal holds %d records after the snapshot, want 1 (the newest is kept)", n)
	}
	s2 := env.Store(t, metastore.Options{})
	for i := 25; i < 30; i++ {
		expectDoc(t, s2, metastore.Doc{Kind: metastore.SlideSet, ID: metastore.FormatID(uint64(i % 5))}, fmt.Sprint("rev ", i))
	}
	// A change after the restart gets a newer generation than the snapshot.
	mustPut(t, s2, setA, "newest")
	s3 := env.Store(t, metastore.Options{})
	expectDoc(t, s3, setA, "newest")
}

// testAbandon: Abandon stops a Store without writing: no document file appears, the
// journal keeps every change, the Store refuses further calls, and the next Open
// replays what was abandoned.
func testAbandon(t *testing.T, h conformance.Harness) {
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, setA, "journaled only")
	mustPut(t, s, ftA, "this too")
	journal := env.Keys(t, metastore.JournalPrefix)
	s.Abandon()
	s.Abandon() // a second call is harmless
	if all := env.Keys(t, ""); !slices.Equal(all, journal) {
		t.Fatalf("after Abandon the folder holds %q, want only the journal %q", all, journal)
	}
	if err := s.Put(context.Background(), setB, []byte("x")); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Put after Abandon: %v, want ErrClosed", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close after Abandon: %v", err)
	}
	if all := env.Keys(t, ""); !slices.Equal(all, journal) {
		t.Fatalf("Close after Abandon wrote %q", all)
	}
	s2 := env.Store(t, metastore.Options{})
	expectDoc(t, s2, setA, "journaled only")
	expectDoc(t, s2, ftA, "this too")
	closeStore(t, s2)
}
