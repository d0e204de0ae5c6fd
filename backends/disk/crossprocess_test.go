package disk_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// The cross-process test re-executes the test binary as several child processes that
// race on one folder: create-only puts of the same keys, replace-if-version puts of
// the same keys, and a counter incremented by read, +1, replace-if-version with retry.
// The children wait on their stdin until all of them have started, so that they
// really run at the same time.

const childEnv = "LECTERN_DISK_CROSSPROCESS_CHILD"

type childResult struct {
	ID         string   `json:"id"`
	Created    []int    `json:"created"`    // rounds whose create-only put this child won
	Replaced   []int    `json:"replaced"`   // rounds whose replace-if-version put it won
	Increments int      `json:"increments"` // successful counter increments
	Conflicts  int      `json:"conflicts"`  // counter increments that lost and were retried
	Errors     []string `json:"errors"`
}

const resultPrefix = "CHILD-RESULT "

func TestCrossProcessConditionalPuts(t *testing.T) {
	procs, rounds, increments := 4, 40, 30
	if testing.Short() {
		rounds, increments = 10, 10
	}
	dir := t.TempDir()
	b := newBucket(t, dir)

	// Replace races need a known version to race from; pass them through the folder.
	var versions []string
	for r := range rounds {
		a := mustPut(t, b, fmt.Sprintf("replace/%03d", r), "initial")
		versions = append(versions, a.Version)
	}
	mustPut(t, b, "ctl/versions", strings.Join(versions, "\n"))
	mustPut(t, b, "counter", "0")

	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   io.ReadCloser
	}
	var children []child
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrossProcessChild$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			childEnv+"=1",
			"LECTERN_DISK_DIR="+dir,
			"LECTERN_DISK_ID=p"+strconv.Itoa(i),
			"LECTERN_DISK_ROUNDS="+strconv.Itoa(rounds),
			"LECTERN_DISK_INCREMENTS="+strconv.Itoa(increments),
		)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		children = append(children, child{cmd, stdin, out})
	}
	for _, c := range children {
		c.stdin.Close() // the start signal: every child is running
	}

	results := make([]childResult, procs)
	var wg sync.WaitGroup
	for i, c := range children {
		wg.Go(func() {
			var transcript strings.Builder
			sc := bufio.NewScanner(c.out)
			found := false
			for sc.Scan() {
				line := sc.Text()
				if rest, ok := strings.CutPrefix(line, resultPrefix); ok {
					found = json.Unmarshal([]byte(rest), &results[i]) == nil
				} else {
					transcript.WriteString(line + "\n")
				}
			}
			if err := c.cmd.Wait(); err != nil || !found {
				t.Errorf("child %d: exit %v, result found %v, output:\n%s", i, err, found, transcript.String())
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	created := make([][]string, rounds)
	replaced := make([][]string, rounds)
	total, conflicts := 0, 0
	for _, res := range results {
		for _, e := range res.Errors {
			t.Errorf("child %s: %s", res.ID, e)
		}
		for _, r := range res.Created {
			created[r] = append(created[r], res.ID)
		}
		for _, r := range res.Replaced {
			replaced[r] = append(replaced[r], res.ID)
		}
		total += res.Increments
		conflicts += res.Conflicts
	}
	for r := range rounds {
		for _, race := range []struct {
			kind    string
			key     string
			winners []string
		}{
			{"create-only", fmt.Sprintf("create/%03d", r), created[r]},
			{"replace-if-version", fmt.Sprintf("replace/%03d", r), replaced[r]},
		} {
			if len(race.winners) != 1 {
				t.Errorf("round %d %s: winners %q, want exactly one", r, race.kind, race.winners)
				continue
			}
			wantContent(t, b, race.key, race.winners[0])
		}
	}
	if total != procs*increments {
		t.Errorf("children report %d increments, want %d", total, procs*increments)
	}
	wantContent(t, b, "counter", strconv.Itoa(total))
	if left := dotFiles(t, dir); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
	t.Logf("%d processes, %d rounds, %d increments with %d lost races retried", procs, rounds, total, conflicts)
}

// TestCrossProcessChild is the child side of TestCrossProcessConditionalPuts; run on
// its own it skips.
func TestCrossProcessChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("helper process of TestCrossProcessConditionalPuts")
	}
	id := os.Getenv("LECTERN_DISK_ID")
	rounds, _ := strconv.Atoi(os.Getenv("LECTERN_DISK_ROUNDS"))
	increments, _ := strconv.Atoi(os.Getenv("LECTERN_DISK_INCREMENTS"))
	b := newBucket(t, os.Getenv("LECTERN_DISK_DIR"))
	ctx := context.Background()
	res := childResult{ID: id}
	fail := func(format string, args ...any) { res.Errors = append(res.Errors, fmt.Sprintf(format, args...)) }

	raw, _, err := b.ReadAll(ctx, "ctl/versions")
	if err != nil {
		t.Fatal(err)
	}
	versions := strings.Split(string(raw), "\n")
	_, _ = io.Copy(io.Discard, os.Stdin) // wait for the start signal

	for r := range rounds {
		_, err := b.PutBytes(ctx, fmt.Sprintf("create/%03d", r), []byte(id), storage.Condition{IfNotExists: true})
		switch {
		case err == nil:
			res.Created = append(res.Created, r)
		case !errors.Is(err, storage.ErrPrecondition):
			fail("create round %d: %v", r, err)
		}
		_, err = b.PutBytes(ctx, fmt.Sprintf("replace/%03d", r), []byte(id), storage.Condition{IfVersion: versions[r]})
		switch {
		case err == nil:
			res.Replaced = append(res.Replaced, r)
		case !errors.Is(err, storage.ErrPrecondition):
			fail("replace round %d: %v", r, err)
		}
	}
	for res.Increments < increments && len(res.Errors) == 0 {
		data, attrs, err := b.ReadAll(ctx, "counter")
		if err != nil {
			fail("read counter: %v", err)
			break
		}
		n, err := strconv.Atoi(string(data))
		if err != nil {
			fail("counter holds %q", data)
			break
		}
		_, err = b.PutBytes(ctx, "counter", []byte(strconv.Itoa(n+1)), storage.Condition{IfVersion: attrs.Version})
		switch {
		case err == nil:
			res.Increments++
		case errors.Is(err, storage.ErrPrecondition):
			res.Conflicts++
		default:
			fail("increment: %v", err)
		}
	}
	line, _ := json.Marshal(res)
	fmt.Println(resultPrefix + string(line))
}
