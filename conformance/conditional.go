package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// racers is how many goroutines race for one conditional put.
const racers = 16

func conditionalChecks() []check {
	return []check{
		{"create_when_missing", createWhenMissing},
		{"create_when_present_fails", createWhenPresent},
		{"create_after_delete", createAfterDelete},
		{"create_race_one_winner", func(t *testing.T, e *env) { e.needCreate(); createRace(t, e, false) }},
		{"create_race_across_instances", func(t *testing.T, e *env) { e.needCreate(); e.needShared(); createRace(t, e, true) }},
		{"replace_matching_version", replaceMatching},
		{"replace_stale_version_fails", replaceStale},
		{"replace_missing_key_fails", replaceMissing},
		{"replace_deleted_key_fails", replaceDeleted},
		{"replace_made_up_version_fails", replaceMadeUp},
		{"replace_chain", replaceChain},
		{"replace_race_one_winner", func(t *testing.T, e *env) { e.needReplace(); replaceRace(t, e, false) }},
		{"replace_race_across_instances", func(t *testing.T, e *env) { e.needReplace(); e.needShared(); replaceRace(t, e, true) }},
		{"version_changes_on_every_put", versionChanges},
		{"version_matches_stat", versionMatchesStat},
		{"version_not_reused_after_delete", versionNotReused},
		{"failed_conditional_put_creates_nothing", failedConditionalCreatesNothing},
		{"unsupported_condition_refused", unsupportedCondition},
	}
}

func ifNotExists() storage.Condition { return storage.Condition{IfNotExists: true} }

func ifVersion(v string) storage.Condition { return storage.Condition{IfVersion: v} }

func createWhenMissing(t *testing.T, e *env) {
	e.needCreate()
	a, err := e.b.PutBytes(e.ctx, "c", []byte("first"), ifNotExists())
	if err != nil {
		t.Fatalf("create-only Put of a missing key: %v", err)
	}
	if a.Version == "" {
		t.Error("create-only Put returned an empty version")
	}
	e.wantContent(e.b, "c", []byte("first"))
}

func createWhenPresent(t *testing.T, e *env) {
	e.needCreate()
	e.put("c", []byte("first"))
	_, err := e.b.PutBytes(e.ctx, "c", []byte("second"), ifNotExists())
	wantKind(t, err, storage.ErrPrecondition, "create-only Put of an existing key")
	e.wantContent(e.b, "c", []byte("first"))
}

func createAfterDelete(t *testing.T, e *env) {
	e.needCreate()
	e.put("c", []byte("first"))
	if err := e.b.Delete(e.ctx, "c"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := e.b.PutBytes(e.ctx, "c", []byte("again"), ifNotExists()); err != nil {
		t.Fatalf("create-only Put after Delete: %v", err)
	}
	e.wantContent(e.b, "c", []byte("again"))
}

// race runs n conditional puts of distinct payloads at once and checks that exactly one
// won, that every loser got ErrPrecondition, and that the winner's bytes are stored.
// With across, the racers alternate between two driver instances.
func race(t *testing.T, e *env, key string, cond storage.Condition, across bool) {
	buckets := []*storage.Bucket{e.b}
	if across {
		buckets = append(buckets, e.instance())
	}
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		errs   = make([]error, racers)
		bodies = make([][]byte, racers)
	)
	for i := range racers {
		bodies[i] = payload(2_000+i*37, fmt.Sprintf("racer-%d", i))
		wg.Go(func() {
			<-start
			_, errs[i] = buckets[i%len(buckets)].PutBytes(e.ctx, key, bodies[i], cond)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racers %d and %d both won the conditional put", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrPrecondition):
			t.Fatalf("racer %d lost with %v, want an error matching storage.ErrPrecondition", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer won the conditional put")
	}
	e.wantContent(e.b, key, bodies[winner])
}

func createRace(t *testing.T, e *env, across bool) {
	race(t, e, "race/create", ifNotExists(), across)
}

func replaceRace(t *testing.T, e *env, across bool) {
	v := e.put("race/replace", []byte("base")).Version
	race(t, e, "race/replace", ifVersion(v), across)
}

func replaceMatching(t *testing.T, e *env) {
	e.needReplace()
	v := e.put("r", []byte("one")).Version
	a, err := e.b.PutBytes(e.ctx, "r", []byte("two"), ifVersion(v))
	if err != nil {
		t.Fatalf("replace with the current version: %v", err)
	}
	if a.Version == "" || a.Version == v {
		t.Errorf("replace returned version %q, want a new non-empty one (was %q)", a.Version, v)
	}
	e.wantContent(e.b, "r", []byte("two"))
}

func replaceStale(t *testing.T, e *env) {
	e.needReplace()
	v1 := e.put("r", []byte("one")).Version
	e.put("r", []byte("two"))
	_, err := e.b.PutBytes(e.ctx, "r", []byte("three"), ifVersion(v1))
	wantKind(t, err, storage.ErrPrecondition, "replace with a stale version")
	e.wantContent(e.b, "r", []byte("two"))
}

func replaceMissing(t *testing.T, e *env) {
	e.needReplace()
	v := e.put("other", []byte("x")).Version
	_, err := e.b.PutBytes(e.ctx, "r", []byte("new"), ifVersion(v))
	wantKind(t, err, storage.ErrPrecondition, "replace of a missing key")
	e.wantMissing(e.b, "r")
}

func replaceDeleted(t *testing.T, e *env) {
	e.needReplace()
	v := e.put("r", []byte("one")).Version
	if err := e.b.Delete(e.ctx, "r"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := e.b.PutBytes(e.ctx, "r", []byte("two"), ifVersion(v))
	wantKind(t, err, storage.ErrPrecondition, "replace of a deleted key with its last version")
	e.wantMissing(e.b, "r")
}

func replaceMadeUp(t *testing.T, e *env) {
	e.needReplace()
	e.put("r", []byte("one"))
	_, err := e.b.PutBytes(e.ctx, "r", []byte("two"), ifVersion("no-such-version-0123456789"))
	wantKind(t, err, storage.ErrPrecondition, "replace with a made-up version")
	e.wantContent(e.b, "r", []byte("one"))
}

// replaceChain does a read-modify-write loop, the way the engine updates metadata.
func replaceChain(t *testing.T, e *env) {
	e.needReplace()
	v := e.put("chain", []byte("0")).Version
	for i := 1; i <= 10; i++ {
		a, err := e.b.PutBytes(e.ctx, "chain", []byte(fmt.Sprint(i)), ifVersion(v))
		if err != nil {
			t.Fatalf("step %d: replace with the version the previous put returned: %v", i, err)
		}
		v = a.Version
	}
	e.wantContent(e.b, "chain", []byte("10"))
}

// versionChanges rewrites identical bytes: a version derived only from the content
// (an MD5 ETag) would not change, and a stale writer would win.
func versionChanges(t *testing.T, e *env) {
	seen := map[string]int{}
	for i := range 5 {
		data := []byte("same bytes")
		if i%2 == 1 {
			data = []byte("other bytes")
		}
		if i == 4 {
			data = []byte("same bytes")
		}
		v := e.put("v", data).Version
		if v == "" {
			t.Fatalf("put %d returned an empty version", i)
		}
		if j, ok := seen[v]; ok {
			t.Fatalf("puts %d and %d returned the same version %q", j, i, v)
		}
		seen[v] = i
	}
}

// versionNotReused deletes a key and creates it again with the same bytes, twice:
// every incarnation must get a version never seen before, and a writer holding the
// version of an incarnation since deleted must be refused. A version kept beside the
// object and removed with it (a per-key generation counter) starts again at the same
// value, and that writer would overwrite an object it never read.
func versionNotReused(t *testing.T, e *env) {
	data := []byte("same bytes")
	seen := map[string]int{}
	var first string
	for i := range 3 {
		if i > 0 {
			if err := e.b.Delete(e.ctx, "vr"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		v := e.put("vr", data).Version
		if v == "" {
			t.Fatalf("put %d returned an empty version", i)
		}
		if j, ok := seen[v]; ok {
			t.Fatalf("the key's incarnations %d and %d (deleted in between) got the same version %q", j, i, v)
		}
		seen[v] = i
		if i == 0 {
			first = v
		}
	}
	if !e.caps.ConditionalReplace {
		return
	}
	_, err := e.b.PutBytes(e.ctx, "vr", []byte("stale writer"), ifVersion(first))
	wantKind(t, err, storage.ErrPrecondition, "replace naming the version of an incarnation since deleted")
	e.wantContent(e.b, "vr", data)
}

func versionMatchesStat(t *testing.T, e *env) {
	a := e.put("v", []byte("x"))
	st, err := e.b.Stat(e.ctx, "v")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.Version != a.Version {
		t.Fatalf("Stat version %q differs from Put's %q", st.Version, a.Version)
	}
	_, ga, err := e.b.ReadAll(e.ctx, "v")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if ga.Version != a.Version {
		t.Fatalf("Get version %q differs from Put's %q", ga.Version, a.Version)
	}
}

func failedConditionalCreatesNothing(t *testing.T, e *env) {
	e.needReplace()
	e.put("keep", []byte("k"))
	for i := range 3 {
		_, err := e.b.PutBytes(e.ctx, fmt.Sprintf("gone%d", i), []byte("x"), ifVersion("bogus"))
		wantKind(t, err, storage.ErrPrecondition, "replace of a missing key")
	}
	e.wantKeys(e.b, "", "keep")
}

// unsupportedCondition: a backend lacking a conditional capability must refuse such a
// put rather than silently ignore its condition. Backends with both have nothing to
// refuse, so the check skips for them.
func unsupportedCondition(t *testing.T, e *env) {
	if e.caps.ConditionalCreate && e.caps.ConditionalReplace {
		t.Skip("backend supports both conditions")
	}
	e.put("u", []byte("x"))
	cond := ifNotExists()
	if e.caps.ConditionalCreate {
		cond = ifVersion("v")
	}
	_, err := e.b.PutBytes(e.ctx, "u", []byte("y"), cond)
	wantKind(t, err, storage.ErrUnsupported, "conditional put without the capability")
	e.wantContent(e.b, "u", []byte("x"))
}
