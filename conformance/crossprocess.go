package conformance

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// The cross-process check: SharedAcrossInstances promises that conditional puts are
// atomic across instances "and processes", and a lock that only works within one
// process (a mutex in a global map) passes every check made in one process. So the
// suite re-executes the test binary (os.Executable, -test.run naming the test that
// called Run) as child processes; in a child, Run finds childEnv set and runs the
// child's half instead of the suite: it opens the same storage by the harness's
// location string and races the parent and the other children on create-only puts,
// replace-if-version puts and a counter incremented by read, +1, replace-if-version.
// Each child prints a ready line once its storage is open, then waits on its stdin,
// which the parent closes once every child is ready, so that the processes really
// race; each prints its results on one line of its output.

// childEnv carries a crossChild (JSON) to a child process.
const childEnv = "LECTERN_CONFORMANCE_CROSS_PROCESS"

// childReadyLine is what a child prints when it is ready to race.
const childReadyLine = "LECTERN-CONFORMANCE-CHILD-READY"

// childResultPrefix starts the line of a child's results.
const childResultPrefix = "LECTERN-CONFORMANCE-CHILD-RESULT "

// crossChild is a child's part of the race.
type crossChild struct {
	Test       string `json:"test"` // the t.Name() of the Run to act on
	Location   string `json:"location"`
	ID         string `json:"id"`
	Rounds     int    `json:"rounds"`
	Increments int    `json:"increments"`
	Create     bool   `json:"create"`
	Replace    bool   `json:"replace"`
}

// crossResult is what a process reports of its part.
type crossResult struct {
	ID         string   `json:"id"`
	Created    []int    `json:"created"`    // rounds whose create-only put it won
	Replaced   []int    `json:"replaced"`   // rounds whose replace-if-version put it won
	Increments int      `json:"increments"` // counter increments that succeeded
	Errors     []string `json:"errors"`
}

const (
	crossChildren   = 2
	crossRounds     = 40
	crossIncrements = 25
)

func crossCreateKey(r int) string  { return fmt.Sprintf("xp/create/%03d", r) }
func crossReplaceKey(r int) string { return fmt.Sprintf("xp/replace/%03d", r) }

const (
	crossCounterKey  = "xp/counter"
	crossVersionsKey = "xp/versions"
)

// ChildProcess reports whether this process is one the suite started for the check
// instances/conditional_puts_across_processes. Run then calls only the harness's
// OpenLocation, so a harness may skip starting its test server: the location names
// the parent's.
func ChildProcess() bool {
	_, ok := os.LookupEnv(childEnv)
	return ok
}

// crossProcessChild is Run in a child process: the child's half of the race, on the
// storage the location names. It reports false when this process is no child.
func crossProcessChild(t *testing.T, h Harness) bool {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		return false
	}
	var c crossChild
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("conformance: %s holds %q: %v", childEnv, raw, err)
	}
	if c.Test != t.Name() {
		t.Skipf("conformance: this child process runs the cross-process half of %s only", c.Test)
	}
	if h.OpenLocation == nil {
		t.Fatal("conformance: a cross-process child, but the harness has no OpenLocation")
	}
	b := storage.NewBucket(h.OpenLocation(t, c.Location))
	var versions []string
	if c.Replace {
		data, _, err := b.ReadAll(t.Context(), crossVersionsKey)
		if err != nil {
			t.Fatalf("conformance: the child cannot read the versions its parent stored: %v", err)
		}
		versions = strings.Split(string(data), "\n")
	}
	fmt.Println(childReadyLine)
	_, _ = io.Copy(io.Discard, os.Stdin) // the start signal: every process is ready
	res := crossRace(t, b, c, versions)
	line, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(childResultPrefix + string(line))
	return true
}

// crossRace is one process's part of the race.
func crossRace(t testing.TB, b *storage.Bucket, c crossChild, versions []string) crossResult {
	ctx := t.Context()
	res := crossResult{ID: c.ID}
	fail := func(format string, args ...any) { res.Errors = append(res.Errors, fmt.Sprintf(format, args...)) }
	for r := range c.Rounds {
		if c.Create {
			_, err := b.PutBytes(ctx, crossCreateKey(r), []byte(c.ID), storage.Condition{IfNotExists: true})
			switch {
			case err == nil:
				res.Created = append(res.Created, r)
			case !errors.Is(err, storage.ErrPrecondition):
				fail("create-only put of %s: %v", crossCreateKey(r), err)
			}
		}
		if c.Replace {
			_, err := b.PutBytes(ctx, crossReplaceKey(r), []byte(c.ID), storage.Condition{IfVersion: versions[r]})
			switch {
			case err == nil:
				res.Replaced = append(res.Replaced, r)
			case !errors.Is(err, storage.ErrPrecondition):
				fail("replace-if-version put of %s: %v", crossReplaceKey(r), err)
			}
		}
	}
	for c.Replace && res.Increments < c.Increments && len(res.Errors) == 0 {
		data, a, err := b.ReadAll(ctx, crossCounterKey)
		if err != nil {
			fail("reading the counter: %v", err)
			break
		}
		n, err := strconv.Atoi(string(data))
		if err != nil {
			fail("the counter holds %s", describe(data))
			break
		}
		_, err = b.PutBytes(ctx, crossCounterKey, []byte(strconv.Itoa(n+1)), storage.Condition{IfVersion: a.Version})
		switch {
		case err == nil:
			res.Increments++
		case !errors.Is(err, storage.ErrPrecondition): // a lost race is retried
			fail("incrementing the counter: %v", err)
		}
	}
	return res
}

// runPattern is a -test.run pattern that selects exactly the test named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// instAcrossProcesses races this process and crossChildren child processes on the
// same storage and checks that every create-only and replace-if-version race had
// exactly one winner and that no counter increment was lost.
func instAcrossProcesses(t *testing.T, e *env) {
	e.needShared()
	if e.h.NewLocation == nil || e.h.OpenLocation == nil {
		t.Skip("the harness has no NewLocation and OpenLocation: conditional puts are not checked across processes")
	}
	if !e.caps.ConditionalCreate && !e.caps.ConditionalReplace {
		t.Skip("backend has neither ConditionalCreate nor ConditionalReplace")
	}
	loc := e.h.NewLocation(t)
	b := storage.NewBucket(e.h.OpenLocation(t, loc))
	part := crossChild{Test: e.runName, Location: loc, Rounds: crossRounds, Increments: crossIncrements,
		Create: e.caps.ConditionalCreate, Replace: e.caps.ConditionalReplace}
	var versions []string
	if part.Replace {
		for r := range crossRounds {
			versions = append(versions, mustPut(t, e.ctx, b, crossReplaceKey(r), []byte("initial")).Version)
		}
		mustPut(t, e.ctx, b, crossVersionsKey, []byte(strings.Join(versions, "\n")))
		mustPut(t, e.ctx, b, crossCounterKey, []byte("0"))
	}

	results := make([]crossResult, crossChildren+1)
	var starts []io.Closer
	var wg sync.WaitGroup
	// Each child says when it is ready to race (running, its storage open); the
	// start signal goes out once all are, so that the processes really race.
	ready := make(chan struct{}, crossChildren)
	startAll := func() {
		for _, s := range starts {
			s.Close()
		}
	}
	// The running executable rather than os.Args[0]: a program started through PATH
	// has a bare name there, which exec would look up in PATH again, perhaps to no
	// file or another one (lectern conformance runs the suite in the lectern binary).
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("conformance: this process's executable, to start the children: %v", err)
	}
	for i := range crossChildren {
		c := part
		c.ID = "child" + strconv.Itoa(i+1)
		env, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(e.ctx, self, "-test.run="+runPattern(e.runName), "-test.count=1", "-test.timeout=5m")
		cmd.Env = append(os.Environ(), childEnv+"="+string(env))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			startAll() // the children started so far end, and report, before this check does
			wg.Wait()
			t.Fatalf("starting a child process (%s): %v", self, err)
		}
		starts = append(starts, stdin)
		wg.Go(func() {
			var transcript strings.Builder
			found := false
			var readyOnce sync.Once
			defer readyOnce.Do(func() { ready <- struct{}{} }) // one that never got ready
			sc := bufio.NewScanner(out)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if sc.Text() == childReadyLine {
					readyOnce.Do(func() { ready <- struct{}{} })
					continue
				}
				if rest, ok := strings.CutPrefix(sc.Text(), childResultPrefix); ok {
					found = json.Unmarshal([]byte(rest), &results[i+1]) == nil
				} else {
					transcript.WriteString(sc.Text() + "\n")
				}
			}
			if err := cmd.Wait(); err != nil || !found {
				t.Errorf("child process %s: exit %v, result reported %v; its output:\n%s%s", c.ID, err, found, transcript.String(), stderr.String())
			}
		})
	}
	for range crossChildren {
		<-ready
	}
	startAll()
	p := part
	p.ID = "parent"
	results[0] = crossRace(t, b, p, versions)
	wg.Wait()
	if t.Failed() {
		return
	}

	created := make([][]string, crossRounds)
	replaced := make([][]string, crossRounds)
	increments := 0
	for _, res := range results {
		for _, msg := range res.Errors {
			t.Errorf("process %s: %s", res.ID, msg)
		}
		for _, r := range res.Created {
			created[r] = append(created[r], res.ID)
		}
		for _, r := range res.Replaced {
			replaced[r] = append(replaced[r], res.ID)
		}
		increments += res.Increments
	}
	for r := range crossRounds {
		if part.Create {
			if len(created[r]) != 1 {
				t.Errorf("create-only puts of %s by %d processes: won by %q, want exactly one winner", crossCreateKey(r), crossChildren+1, created[r])
			} else {
				e.wantContentNow(b, crossCreateKey(r), []byte(created[r][0]), "a second winner")
			}
		}
		if part.Replace {
			if len(replaced[r]) != 1 {
				t.Errorf("replace-if-version puts of %s by %d processes from one version: won by %q, want exactly one winner", crossReplaceKey(r), crossChildren+1, replaced[r])
			} else {
				e.wantContentNow(b, crossReplaceKey(r), []byte(replaced[r][0]), "a second winner")
			}
		}
	}
	if part.Replace {
		if want := (crossChildren + 1) * crossIncrements; increments != want {
			t.Errorf("the processes report %d counter increments, want %d", increments, want)
		}
		e.wantContentNow(b, crossCounterKey, []byte(strconv.Itoa(increments)), "lost increments")
	}
}

// wantContentNow is wantContent that marks the check failed and goes on, so that
// every lost race is reported.
func (e *env) wantContentNow(b *storage.Bucket, key string, want []byte, why string) {
	e.t.Helper()
	got, _, err := b.ReadAll(e.ctx, key)
	if err != nil {
		e.t.Errorf("reading %q: %v", key, err)
		return
	}
	if string(got) != string(want) {
		e.t.Errorf("%q holds %s, want %s (%s)", key, describe(got), describe(want), why)
	}
}
