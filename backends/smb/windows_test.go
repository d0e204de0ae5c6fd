package smb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers/samba"
	"github.com/lectern/lectern/core/storage"
)

// TestCreateOnlyRace: 16 goroutines, each on its own driver (own connections), race to
// create one key; exactly one wins and its bytes are what is stored.
func TestCreateOnlyRace(t *testing.T) {
	_, srv, folder := fresh(t)
	ctx := testCtx(t)
	const n = 16
	buckets := make([]*storage.Bucket, n)
	for i := range buckets {
		buckets[i] = storage.NewBucket(openOn(t, srv, folder, ""))
	}
	for round := range 3 {
		key := fmt.Sprintf("race/k%d", round)
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			wins   = make(chan int, n)
			errs   = make(chan error, n)
			losers int
		)
		for i := range n {
			wg.Go(func() {
				<-start
				_, err := buckets[i].PutBytes(ctx, key, []byte("writer "+strconv.Itoa(i)), storage.Condition{IfNotExists: true})
				switch {
				case err == nil:
					wins <- i
				case errors.Is(err, storage.ErrPrecondition):
					errs <- nil
				default:
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(wins)
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("round %d: a racing create failed with %v, want success or ErrPrecondition", round, err)
			}
			losers++
		}
		var winners []int
		for w := range wins {
			winners = append(winners, w)
		}
		if len(winners) != 1 || losers != n-1 {
			t.Fatalf("round %d: %d winners (%v) and %d losers, want exactly 1 and %d", round, len(winners), winners, losers, n-1)
		}
		got, _, err := buckets[0].ReadAll(ctx, key)
		if err != nil || string(got) != "writer "+strconv.Itoa(winners[0]) {
			t.Fatalf("round %d: stored %q (%v), want the winner's bytes %q", round, got, err, "writer "+strconv.Itoa(winners[0]))
		}
	}
}

// The cross-process race runs this test binary twice as helper processes (selected by
// LECTERN_SMB_HELPER), each with 8 racing goroutines; every helper prints how many of
// its creates won.
func TestCreateOnlyAcrossProcesses(t *testing.T) {
	_, srv, folder := fresh(t)
	pwFile := srv.PasswordFile(t)
	ready := filepath.Join(t.TempDir(), "go")
	const procs = 2
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*bytes.Buffer, procs)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			"LECTERN_SMB_HELPER=create-race",
			"LECTERN_SMB_HELPER_URL="+srv.URL(folder)+"?password_file="+pwFile,
			"LECTERN_SMB_HELPER_GO="+ready,
			"LECTERN_SMB_HELPER_ID="+strconv.Itoa(i),
		)
		outs[i] = new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	// Both processes wait for this file before racing, so that they race for real.
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
		_, after, ok := strings.Cut(outs[i].String(), "WINS=")
		if !ok {
			t.Fatalf("helper %d printed no result:\n%s", i, outs[i])
		}
		wins, err := strconv.Atoi(strings.Fields(after)[0])
		if err != nil {
			t.Fatalf("helper %d: %v", i, err)
		}
		total += wins
	}
	if total != 1 {
		t.Fatalf("%d creates won across %d processes, want exactly 1", total, procs)
	}
}

// TestReplaceIfVersionNoLostUpdate: 8 workers on 2 drivers increment one counter by
// read, replace-if-version, retry on ErrPrecondition. Every increment must survive.
func TestReplaceIfVersionNoLostUpdate(t *testing.T) {
	_, srv, folder := fresh(t)
	ctx := testCtx(t)
	a := storage.NewBucket(openOn(t, srv, folder, ""))
	b := storage.NewBucket(openOn(t, srv, folder, ""))
	if _, err := a.PutBytes(ctx, "counter", []byte("0"), storage.Condition{IfNotExists: true}); err != nil {
		t.Fatal(err)
	}
	const workers = 8
	per := 12
	if testing.Short() {
		per = 5
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		bk := a
		if w%2 == 1 {
			bk = b
		}
		wg.Go(func() {
			for range per {
				for {
					data, attrs, err := bk.ReadAll(ctx, "counter")
					if err != nil {
						errs <- fmt.Errorf("read: %w", err)
						return
					}
					n, err := strconv.Atoi(string(data))
					if err != nil {
						errs <- fmt.Errorf("counter holds %q", data)
						return
					}
					_, err = bk.PutBytes(ctx, "counter", []byte(strconv.Itoa(n+1)), storage.Condition{IfVersion: attrs.Version})
					if err == nil {
						break
					}
					if !errors.Is(err, storage.ErrPrecondition) {
						errs <- fmt.Errorf("put: %w", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data, _, err := a.ReadAll(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(workers * per); string(data) != want {
		t.Fatalf("counter is %s after %d increments: updates were lost", data, workers*per)
	}
}

// TestCaseInsensitive: on a Windows-like share, keys that differ only in case are one
// object, and the driver says so.
func TestCaseInsensitive(t *testing.T) {
	bk, _, _ := fresh(t)
	ctx := testCtx(t)
	if !bk.Capabilities().CaseInsensitive {
		t.Fatal("Capabilities().CaseInsensitive is false")
	}
	if _, err := bk.PutBytes(ctx, "Case/Key.txt", []byte("first"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bk.PutBytes(ctx, "case/KEY.TXT", []byte("second"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for a, err := range bk.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	if len(keys) != 1 {
		t.Fatalf("two puts of one name in different case left %d keys: %v", len(keys), keys)
	}
	got, _, err := bk.ReadAll(ctx, "CASE/key.TXT")
	if err != nil || string(got) != "second" {
		t.Fatalf("read in a third spelling: %q, %v; want %q", got, err, "second")
	}
	_, err = bk.PutBytes(ctx, "cAsE/kEy.TxT", []byte("third"), storage.Condition{IfNotExists: true})
	if !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("create-only in another spelling of an existing key: %v, want ErrPrecondition", err)
	}
	if err := bk.Delete(ctx, "CASE/KEY.TXT"); err != nil {
		t.Fatal(err)
	}
	if _, err := bk.Stat(ctx, "Case/Key.txt"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after a delete in another spelling: %v, want ErrNotFound", err)
	}
}

// TestOpenReaderBlocksDelete: a body still open holds the file (Windows share modes,
// which Samba enforces across connections). A delete meanwhile retries and, once the
// bounded wait is over, fails as retryable; the reader still reads the whole old
// object, and after it is closed the delete goes through. A put meanwhile may succeed
// (Samba lets a rename replace a file that other connections have open: POSIX rename
// underneath, the reader keeps the old bytes) or fail as retryable (Windows refuses
// it), never anything else.
func TestOpenReaderBlocksDelete(t *testing.T) {
	_, srv, folder := fresh(t)
	ctx := testCtx(t)
	d := openOn(t, srv, folder, "")
	d.busyWait = 0 // one attempt, then unavailable
	bk := storage.NewBucket(d)
	old := bytes.Repeat([]byte("old!"), 1<<20) // 4 MiB: streamed, handle held
	if _, err := bk.PutBytes(ctx, "held", old, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := bk.Get(ctx, "held", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	err = bk.Delete(ctx, "held")
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("delete of a file open for reading: %v, want ErrUnavailable", err)
	}
	_, err = bk.PutBytes(ctx, "held", []byte("new"), storage.Condition{})
	if err != nil && !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("put over a file open for reading: %v, want success or ErrUnavailable", err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the open body read %d bytes (%v), want the whole old object", len(got), err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bk.Delete(ctx, "held"); err != nil {
		t.Fatalf("delete after the body was closed: %v", err)
	}
	if _, err := bk.Stat(ctx, "held"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after the delete: %v", err)
	}
	// Nothing is left in the folder: no temporary or lock file.
	if srv.Root != "" {
		entries, _ := os.ReadDir(filepath.Join(srv.Root, folder))
		for _, e := range entries {
			t.Errorf("left in the folder: %s", e.Name())
		}
	}
}

// TestOpenReaderDelaysDelete: with the normal bounded wait, a delete blocked by an
// open body succeeds once the body is closed.
func TestOpenReaderDelaysDelete(t *testing.T) {
	bk, _, _ := fresh(t)
	ctx := testCtx(t)
	old := bytes.Repeat([]byte("old!"), 1<<20)
	if _, err := bk.PutBytes(ctx, "held", old, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := bk.Get(ctx, "held", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bk.Delete(ctx, "held") }()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the open body read %d bytes (%v), want the whole old object", len(got), err)
	}
	rc.Close()
	if err := <-done; err != nil {
		t.Fatalf("delete delayed by an open body: %v", err)
	}
	if _, err := bk.Stat(ctx, "held"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after the delete: %v", err)
	}
}

// TestHeldLockIsWaitedFor and TestOrphanLockIsBroken exercise the key lock directly.
func TestHeldLockIsWaitedFor(t *testing.T) {
	_, srv, folder := fresh(t)
	ctx := testCtx(t)
	d := openOn(t, srv, folder, "")
	bk := storage.NewBucket(d)
	if _, err := bk.PutBytes(ctx, "k", []byte("v1"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	c, err := d.pool.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.lock(ctx, ctx, c, "test", "k", d.path("k"))
	if err != nil {
		t.Fatal(err)
	}
	other := storage.NewBucket(openOn(t, srv, folder, ""))
	done := make(chan error, 1)
	go func() {
		_, err := other.PutBytes(ctx, "k", []byte("v2"), storage.Condition{})
		done <- err
	}()
	// While the lock is held the put cannot have replaced the object.
	got, _, err := bk.ReadAll(ctx, "k")
	if err != nil || string(got) != "v1" {
		t.Fatalf("while the lock is held: %q, %v; want v1", got, err)
	}
	if err := l.release(c, ctx); err != nil {
		t.Fatal(err)
	}
	d.pool.put(c, nil)
	if err := <-done; err != nil {
		t.Fatalf("put that waited for the lock: %v", err)
	}
	got, _, err = bk.ReadAll(ctx, "k")
	if err != nil || string(got) != "v2" {
		t.Fatalf("after the lock was released: %q, %v; want v2", got, err)
	}
}

// orphanBeside puts "v1" under dir/k on a driver with a short staleAfter and writes
// the dot-file name (".k.lock", ".k.append") beside it with data and no open handle:
// what a crashed holder leaves.
func orphanBeside(t *testing.T, name string, data []byte) (d *Driver, bk *storage.Bucket, ctx context.Context, orphan string) {
	t.Helper()
	srv := samba.Start(t)
	if srv.Root == "" {
		t.Skip("needs the share's local folder")
	}
	folder := srv.NewFolder(t)
	d = openOn(t, srv, folder, "")
	d.staleAfter = 300 * time.Millisecond // the same rule, shorter
	bk = storage.NewBucket(d)
	ctx = testCtx(t)
	if _, err := bk.PutBytes(ctx, "dir/k", []byte("v1"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	orphan = filepath.Join(srv.Root, folder, "dir", name)
	if err := os.WriteFile(orphan, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return d, bk, ctx, orphan
}

func TestOrphanLockIsBroken(t *testing.T) {
	_, bk, ctx, _ := orphanBeside(t, ".k.lock", nil)
	if _, err := bk.PutBytes(ctx, "dir/k", []byte("v2"), storage.Condition{}); err != nil {
		t.Fatalf("put with an orphaned lock file: %v", err)
	}
	if got, _, err := bk.ReadAll(ctx, "dir/k"); err != nil || string(got) != "v2" {
		t.Fatalf("%q, %v", got, err)
	}
}

// TestKeyLockExcludes: 8 connections take and release one key's lock 30 times each;
// never are two holders inside at once.
func TestKeyLockExcludes(t *testing.T) {
	_, srv, folder := fresh(t)
	ctx := testCtx(t)
	d := openOn(t, srv, folder, "")
	if _, err := storage.NewBucket(d).PutBytes(ctx, "x/k", []byte("v"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c, err := d.pool.dial(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.close()
			for range rounds {
				l, err := d.lock(ctx, ctx, c, "test", "x/k", d.path("x/k"))
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				_, _ = c.on(ctx).Stat(d.path("x/k")) // a round trip inside the lock
				inside.Add(-1)
				if err := l.release(c, ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("up to %d holders of one key's lock at once", most.Load())
	}
}

// TestHelperProcess is not a test: it is the body of the helper processes of
// TestCreateOnlyAcrossProcesses.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("LECTERN_SMB_HELPER") != "create-race" {
		t.Skip("helper process only")
	}
	ctx := testCtx(t)
	u := os.Getenv("LECTERN_SMB_HELPER_URL")
	bk, err := openRaw(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	for {
		if _, err := os.Stat(os.Getenv("LECTERN_SMB_HELPER_GO")); err == nil {
			break
		}
		time.Sleep(time.Millisecond) // a start signal, not a timing assertion
	}
	id := os.Getenv("LECTERN_SMB_HELPER_ID")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for g := range 8 {
		wg.Go(func() {
			_, err := bk.PutBytes(ctx, "xproc/key", []byte("process "+id+" goroutine "+strconv.Itoa(g)), storage.Condition{IfNotExists: true})
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, storage.ErrPrecondition):
				t.Errorf("racing create: %v", err)
			}
		})
	}
	wg.Wait()
	fmt.Printf("WINS=%d\n", wins)
}

// TestDeadPutTempIsPruned: a temporary file that no Put has touched for deadTempAge
// (a process died during the Put) is removed with its folder once the folder's last
// key is deleted; a younger one (a Put that may still be running) keeps the folder.
func TestDeadPutTempIsPruned(t *testing.T) {
	for _, tc := range []struct {
		name     string
		age      time.Duration
		wantGone bool
	}{
		{"fresh", 0, false},
		{"dead", 2 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, bk, ctx, orphan := orphanBeside(t, ".tmp-00112233445566778899aabb", []byte("half a part"))
			old := time.Now().Add(-tc.age)
			if err := os.Chtimes(orphan, old, old); err != nil {
				t.Fatal(err)
			}
			if err := bk.Delete(ctx, "dir/k"); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(filepath.Dir(orphan))
			if gone := errors.Is(err, fs.ErrNotExist); gone != tc.wantGone {
				t.Fatalf("folder gone: %v (%v), want %v", gone, err, tc.wantGone)
			}
			if _, err := os.Stat(orphan); !tc.wantGone && err != nil {
				t.Fatalf("the young temporary file was removed: %v", err)
			}
		})
	}
}
