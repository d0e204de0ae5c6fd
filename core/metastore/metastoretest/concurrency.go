package metastoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
)

// testConcurrentChanges has many goroutines change documents at once while snapshots
// run, then checks that a crash and a clean restart both keep exactly what the last
// acknowledged changes say.
func testConcurrentChanges(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	process := &crashable{Driver: env.Open(t)}
	s := env.StoreOn(t, storage.NewBucket(process), metastore.Options{SnapshotInterval: time.Millisecond, JournalSoftLimit: 16})
	const docs, writersPerDoc, revs = 6, 3, 15
	if testing.Short() {
		t.Log("short mode: fewer revisions")
	}
	var wg sync.WaitGroup
	errs := make(chan error, docs*writersPerDoc)
	for d := range docs {
		doc := metastore.Doc{Kind: metastore.Kinds[d%2], ID: metastore.FormatID(uint64(d))}
		for w := range writersPerDoc {
			wg.Go(func() {
				for r := range revs {
					if err := s.Put(ctx, doc, fmt.Appendf(nil, "%v writer %d rev %d", doc, w, r)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := map[metastore.Doc]string{}
	for d := range docs {
		doc := metastore.Doc{Kind: metastore.Kinds[d%2], ID: metastore.FormatID(uint64(d))}
		b, err := s.Get(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(b), fmt.Sprintf("rev %d", revs-1)) {
			// Each writer's own changes are ordered, so some writer's last one wins.
			t.Fatalf("%v = %q: not any writer's last revision", doc, b)
		}
		want[doc] = string(b)
	}
	// Crash while the periodic snapshot may be running (it writes nothing after the
	// crash, as a killed process would not), then restart.
	process.Crash()
	s2 := env.Store(t, metastore.Options{})
	for doc, v := range want {
		expectDoc(t, s2, doc, v)
	}
	closeStore(t, s2)
	s3 := env.Store(t, metastore.Options{})
	for doc, v := range want {
		expectDoc(t, s3, doc, v)
	}
	closeStore(t, s3)
	// Stop the crashed Store's snapshot loop; a final flush, if it has one to do,
	// is refused, as it must be.
	if err := s.Close(ctx); err != nil && !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("closing the crashed Store: %v", err)
	}
}

func testIDSequence(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	for _, want := range []string{"aaa", "aab", "aac"} {
		got, err := s.NextID(ctx, metastore.SlideSet)
		if err != nil || got != want {
			t.Fatalf("NextID = %q, %v; want %q", got, err, want)
		}
	}
	got, err := s.NextID(ctx, metastore.Handout)
	if err != nil || got != "aaa" {
		t.Fatalf("first handout id = %q, %v; want aaa (separate sequence)", got, err)
	}
	if _, err := s.NextID(ctx, metastore.Kind(99)); !errors.Is(err, metastore.ErrInvalidDoc) {
		t.Fatalf("NextID of an unknown kind: %v", err)
	}
	closeStore(t, s)
	// The files are the seeds' and hold the last used id.
	keys := env.Keys(t, "")
	for _, k := range []string{metastore.MaxIDKey(metastore.SlideSet), metastore.MaxIDKey(metastore.Handout)} {
		if !slices.Contains(keys, k) {
			t.Errorf("%s missing; files: %v", k, keys)
		}
	}
	s2 := env.Store(t, metastore.Options{})
	got, err = s2.NextID(ctx, metastore.SlideSet)
	if err != nil || got != "aad" {
		t.Fatalf("NextID after restart = %q, %v; want aad", got, err)
	}
	env.CheckAllOpen(t)
}

// allocate has stores × goroutines allocate n ids each of both kinds, and checks that
// they are all distinct and that a new Store continues after them.
func allocate(t *testing.T, env *Env, stores []*metastore.Store, goroutines, n int) (highest map[metastore.Kind]uint64) {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[metastore.Kind]map[string]int{metastore.SlideSet: {}, metastore.Handout: {}}
	var errs []error
	var wg sync.WaitGroup
	for si, s := range stores {
		for g := range goroutines {
			wg.Go(func() {
				for i := range n {
					k := metastore.Kinds[(g+i)%2]
					id, err := s.NextID(ctx, k)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					if prev, dup := seen[k][id]; dup {
						errs = append(errs, fmt.Errorf("%v id %s given to store %d and store %d", k, id, prev, si))
					}
					seen[k][id] = si
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("… %d errors in all", len(errs))
			break
		}
		t.Error(err)
	}
	if t.Failed() {
		return nil
	}
	total := len(seen[metastore.SlideSet]) + len(seen[metastore.Handout])
	if total != len(stores)*goroutines*n {
		t.Fatalf("%d distinct ids, want %d", total, len(stores)*goroutines*n)
	}
	highest = map[metastore.Kind]uint64{}
	for k, ids := range seen {
		for id := range ids {
			n, _ := metastore.ParseID(id)
			highest[k] = max(highest[k], n)
		}
	}
	// Restart: the next id is new and higher than every id handed out.
	fresh := env.StoreOn(t, stores[0].Bucket(), metastore.Options{})
	for _, k := range metastore.Kinds {
		id, err := fresh.NextID(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if next, _ := metastore.ParseID(id); next <= highest[k] {
			t.Fatalf("%v id %s after restart is not above %s, handed out before", k, id, metastore.FormatID(highest[k]))
		}
	}
	t.Logf("%d stores × %d goroutines: %d distinct ids", len(stores), goroutines, total)
	return highest
}

func testConcurrentIDs(t *testing.T, h conformance.Harness) {
	env := NewEnv(t, h)
	n := 25
	if testing.Short() {
		n = 10
	}
	var stores []*metastore.Store
	for range 3 {
		stores = append(stores, env.StoreOn(t, storage.NewBucket(jitter{env.Open(t)}), metastore.Options{}))
	}
	if !stores[0].Bucket().Capabilities().ConditionalReplace {
		t.Log("backend has no conditional replace: ids are claimed with create-only puts")
	}
	allocate(t, env, stores, 4, n)
}

// testConcurrentIDClaims runs allocation as it happens on a backend without
// conditional replace, by hiding that capability.
func testConcurrentIDClaims(t *testing.T, h conformance.Harness) {
	env := NewEnv(t, h)
	n := 15
	if testing.Short() {
		n = 6
	}
	var stores []*metastore.Store
	for range 2 {
		b := storage.NewBucket(createOnly{jitter{env.Open(t)}})
		stores = append(stores, env.StoreOn(t, b, metastore.Options{}))
	}
	highest := allocate(t, env, stores, 3, n)
	if highest == nil {
		return
	}
	// A damaged hint is rebuilt from the claims, never restarting at aaa.
	env.SetRaw(t, metastore.MaxIDKey(metastore.SlideSet), []byte("junk"))
	s := env.StoreOn(t, storage.NewBucket(createOnly{env.Open(t)}), metastore.Options{})
	id, err := s.NextID(context.Background(), metastore.SlideSet)
	if err != nil {
		t.Fatal(err)
	}
	// The fresh store in allocate took one more id after the highest.
	if next, _ := metastore.ParseID(id); next <= highest[metastore.SlideSet]+1 {
		t.Fatalf("id after a damaged hint = %s: not above the claims (highest %s)", id, metastore.FormatID(highest[metastore.SlideSet]+1))
	}
}

func testBadInput(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	bad := []metastore.Doc{
		{Kind: metastore.SlideSet, ID: ""},
		{Kind: metastore.SlideSet, ID: "ab"},
		{Kind: metastore.SlideSet, ID: "AAA"},
		{Kind: metastore.SlideSet, ID: "s-aaa"},
		{Kind: metastore.SlideSet, ID: "../aaa"},
		{Kind: metastore.Kind(0), ID: "aaa"},
	}
	for _, d := range bad {
		if err := s.Put(ctx, d, []byte("x")); !errors.Is(err, metastore.ErrInvalidDoc) {
			t.Errorf("put %q: %v, want ErrInvalidDoc", d.ID, err)
		}
		if _, err := s.Get(ctx, d); !errors.Is(err, metastore.ErrInvalidDoc) {
			t.Errorf("get %q: %v, want ErrInvalidDoc", d.ID, err)
		}
	}
	if err := s.Put(ctx, setA, make([]byte, metastore.MaxDocumentSize+1)); !errors.Is(err, metastore.ErrTooLarge) || !errors.Is(err, storage.ErrInvalidArgument) {
		t.Errorf("put of an oversized document: %v, want ErrTooLarge (and ErrInvalidArgument)", err)
	}
	if keys := env.Keys(t, ""); len(keys) != 0 {
		t.Errorf("bad input wrote files: %v", keys)
	}
	if _, err := metastore.Open(ctx, env.Bucket(t), "no-slash", env.Sealer, metastore.Options{}); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Errorf("open with a bad prefix: %v", err)
	}
	if _, err := metastore.Open(ctx, storage.NewBucket(noConditions{env.Open(t)}), env.Prefix, env.Sealer, metastore.Options{}); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("open on a backend without create-only puts: %v, want ErrUnsupported", err)
	}
	closeStore(t, s)
}

// testTrimOrder checks that a deleted document cannot come back when trimming the
// journal stops halfway: its older put record must not outlive its delete record.
func testTrimOrder(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	journal := func() []string { return env.Keys(t, metastore.JournalPrefix) }
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, setA, "v1")
	first := journal()[0]
	s.Close(ctx)
	// A Store whose backend cannot delete setA's put record.
	s2 := env.StoreOn(t, storage.NewBucket(failDelete{env.Open(t), env.Prefix + first}), metastore.Options{})
	mustPut(t, s2, setB, "b1")
	if err := s2.Delete(ctx, setA); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s2, setB, "b2")
	if err := s2.Snapshot(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("snapshot with a failing delete: %v, want the injected ErrUnavailable", err)
	}
	// Crash now, with the trim incomplete.
	s3 := env.Store(t, metastore.Options{})
	expectMissing(t, s3, setA)
	expectDoc(t, s3, setB, "b2")
	closeStore(t, s3)
	s4 := env.Store(t, metastore.Options{})
	expectMissing(t, s4, setA)
}

// testIDsAvoidExisting: a folder with documents but no id file (copied from
// elsewhere) never gets one of their ids again.
func testIDsAvoidExisting(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, metastore.Doc{Kind: metastore.SlideSet, ID: "aac"}, "snapshotted")
	closeStore(t, s)
	s2 := env.Store(t, metastore.Options{})
	mustPut(t, s2, metastore.Doc{Kind: metastore.Handout, ID: "aab"}, "only in the journal")
	s3 := env.Store(t, metastore.Options{}) // after a crash of s2
	for _, tc := range []struct {
		kind metastore.Kind
		want string
	}{{metastore.SlideSet, "aad"}, {metastore.Handout, "aac"}} {
		if got, err := s3.NextID(ctx, tc.kind); err != nil || got != tc.want {
			t.Errorf("NextID(%v) = %q, %v; want %q", tc.kind, got, err, tc.want)
		}
	}
}

// testStaleIDFile: an id file that is valid but behind the ids in use (restored from
// an older backup) never hands out a live document's id, whose "new" document would
// replace it. Over conditional replace (the file is the counter) and over claims
// (the file is a hint, and the claims were restored with it), for documents known
// from the journal and ones only in snapshot files.
func testStaleIDFile(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		wrap         func(storage.Driver) storage.Driver
		snapshots    bool // the documents are in snapshot files only, not in the journal
		deleteMiddle bool // the second document is deleted before the restore
	}{
		{"counter, journal", func(d storage.Driver) storage.Driver { return d }, false, false},
		{"counter, snapshots", func(d storage.Driver) storage.Driver { return d }, true, false},
		{"claims, snapshots", func(d storage.Driver) storage.Driver { return createOnly{d} }, true, false},
		{"counter, journal, a deleted id next", func(d storage.Driver) storage.Driver { return d }, false, true},
		{"counter, snapshots, a deleted id next", func(d storage.Driver) storage.Driver { return d }, true, true},
		{"claims, snapshots, a deleted id next", func(d storage.Driver) storage.Driver { return createOnly{d} }, true, true},
		{"counter, journal, the newest ids deleted", func(d storage.Driver) storage.Driver { return d }, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := NewEnv(t, h)
			open := func() *metastore.Store {
				return env.StoreOn(t, storage.NewBucket(tc.wrap(env.Open(t))), metastore.Options{})
			}
			s := open()
			var old []byte // the id file after the first allocation
			inUse := map[string]bool{}
			issued := map[string]bool{} // never to be handed out again
			for i := range 3 {
				id, err := s.NextID(ctx, metastore.SlideSet)
				if err != nil {
					t.Fatal(err)
				}
				inUse[id], issued[id] = true, true
				mustPut(t, s, metastore.Doc{Kind: metastore.SlideSet, ID: id}, "live "+id)
				if i == 0 {
					old = env.Raw(t, metastore.MaxIDKey(metastore.SlideSet))
				}
			}
			if tc.deleteMiddle {
				// The id right after the restored file's is then free, though issued:
				// probing it alone would hand it out again.
				if err := s.Delete(ctx, metastore.Doc{Kind: metastore.SlideSet, ID: "aab"}); err != nil {
					t.Fatal(err)
				}
				delete(inUse, "aab")
				if strings.Contains(tc.name, "newest ids deleted") {
					// Nothing live above the counter: only the journal's delete
					// records say the ids were issued.
					if err := s.Delete(ctx, metastore.Doc{Kind: metastore.SlideSet, ID: "aac"}); err != nil {
						t.Fatal(err)
					}
					delete(inUse, "aac")
				}
			}
			if tc.snapshots {
				closeStore(t, s) // snapshot, journal trimmed
			}
			env.SetRaw(t, metastore.MaxIDKey(metastore.SlideSet), old)
			for _, claim := range env.Keys(t, "ids/") {
				env.RemoveRaw(t, claim) // restored with the old hint: the later claims lost too
			}
			s2 := open()
			id, err := s2.NextID(ctx, metastore.SlideSet)
			if err != nil {
				t.Fatal(err)
			}
			if issued[id] {
				t.Fatalf("NextID after a stale id file = %s, an id issued before (in use: %v)", id, inUse)
			}
			for live := range inUse {
				expectDoc(t, s2, metastore.Doc{Kind: metastore.SlideSet, ID: live}, "live "+live)
			}
		})
	}
	t.Run("asked for, never made", func(t *testing.T) {
		// A Get of the next id before it exists (a client guessing) does not make it
		// count as in use, which would skip a thousand ids.
		s := NewEnv(t, h).Store(t, metastore.Options{})
		if _, err := s.NextID(ctx, metastore.SlideSet); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, metastore.Doc{Kind: metastore.SlideSet, ID: "aab"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get of a missing document: %v", err)
		}
		if id, err := s.NextID(ctx, metastore.SlideSet); err != nil || id != "aab" {
			t.Fatalf("NextID = %q, %v; want aab", id, err)
		}
	})
}

// testSharedJournal: two Stores over one folder write journal records at the same
// time (to different documents); no record overwrites another, so a third Store
// replays every acknowledged change of both.
func testSharedJournal(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	stores := []*metastore.Store{env.Store(t, metastore.Options{}), env.Store(t, metastore.Options{})}
	const revs = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for si, s := range stores {
		for k := range 2 {
			wg.Go(func() {
				doc := metastore.Doc{Kind: metastore.Kinds[k], ID: metastore.FormatID(uint64(si))}
				for r := range revs {
					if err := s.Put(ctx, doc, fmt.Appendf(nil, "%v rev %d", doc, r)); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for _, err := range errs {
		t.Fatal(err)
	}
	if n := len(env.Keys(t, metastore.JournalPrefix)); n != 2*2*revs {
		t.Fatalf("journal holds %d records, want %d: some were lost", n, 2*2*revs)
	}
	s := env.Store(t, metastore.Options{})
	for si := range stores {
		for _, k := range metastore.Kinds {
			doc := metastore.Doc{Kind: k, ID: metastore.FormatID(uint64(si))}
			expectDoc(t, s, doc, fmt.Sprintf("%v rev %d", doc, revs-1))
		}
	}
	closeStore(t, s)
}

// testVerifyBeforeBackup: a primary that does not read back as written stops the
// save before the backup is touched, and the document's journal records are kept.
func testVerifyBeforeBackup(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, setA, "v1")
	closeStore(t, s)
	goodBackup := env.Raw(t, setA.BackupKey())
	s2 := env.StoreOn(t, storage.NewBucket(mangle{env.Open(t), env.Prefix + setA.PrimaryKey()}), metastore.Options{})
	mustPut(t, s2, setA, "v2")
	mustPut(t, s2, setB, "b")
	err := s2.Snapshot(ctx)
	if !errors.Is(err, metastore.ErrCorrupt) {
		t.Fatalf("snapshot over a backend that damages the primary: %v, want ErrCorrupt", err)
	}
	if !bytes.Equal(env.Raw(t, setA.BackupKey()), goodBackup) {
		t.Fatal("the backup was rewritten although the primary did not verify")
	}
	// Crash. The journal still has v2; the backup heals the primary.
	s3 := env.Store(t, metastore.Options{})
	expectDoc(t, s3, setA, "v2")
	expectDoc(t, s3, setB, "b")
	closeStore(t, s3)
	s4 := env.Store(t, metastore.Options{})
	expectDoc(t, s4, setA, "v2")
	closeStore(t, s4)
	env.CheckAllOpen(t)
}

// testFailedPutNotApplied: a change whose journal put reported failure (although
// the backend kept the record) is not applied after a restart either.
func testFailedPutNotApplied(t *testing.T, h conformance.Harness) {
	ctx := context.Background()
	env := NewEnv(t, h)
	s := env.Store(t, metastore.Options{})
	mustPut(t, s, setA, "acknowledged")
	closeStore(t, s)
	s2 := env.StoreOn(t, storage.NewBucket(lostReply{env.Open(t), env.Prefix + metastore.JournalPrefix}), metastore.Options{})
	if err := s2.Put(ctx, setA, []byte("failed")); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("put with a lost reply: %v, want ErrUnavailable", err)
	}
	expectDoc(t, s2, setA, "acknowledged")
	s3 := env.Store(t, metastore.Options{}) // crash of s2
	expectDoc(t, s3, setA, "acknowledged")
}
