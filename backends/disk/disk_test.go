package disk_test

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
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/storage"
)

func newBucket(t testing.TB, dir string) *storage.Bucket {
	t.Helper()
	d, err := disk.New(dir)
	if err != nil {
		t.Fatalf("disk.New(%q): %v", dir, err)
	}
	t.Cleanup(func() { d.Close() })
	return storage.NewBucket(d)
}

func mustPut(t testing.TB, b *storage.Bucket, key, data string) storage.Attributes {
	t.Helper()
	a, err := b.PutBytes(context.Background(), key, []byte(data), storage.Condition{})
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return a
}

func wantContent(t testing.TB, b *storage.Bucket, key, want string) {
	t.Helper()
	got, _, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if string(got) != want {
		t.Fatalf("read %q = %q, want %q", key, got, want)
	}
}

func listKeys(t testing.TB, b *storage.Bucket, prefix string) []string {
	t.Helper()
	keys := []string{}
	for a, err := range b.List(context.Background(), prefix) {
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		keys = append(keys, a.Key)
	}
	return keys
}

// dotFiles returns the names starting with a dot anywhere under dir, except the
// driver's own .lectern folder.
func dotFiles(t testing.TB, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.Name() == ".lectern" {
			return filepath.SkipDir
		}
		if p != dir && strings.HasPrefix(de.Name(), ".") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestListByteOrder uses names where directory-name order and full-key byte order
// differ ("a/..." sorts after "a-c" and "a.x" because '-' and '.' are below '/').
func TestListByteOrder(t *testing.T) {
	b := newBucket(t, t.TempDir())
	keys := []string{"a/b", "a-c", "a/c/d", "a.x", "a0", "ab", "b", "a/c-e", "a/c/d-f", "a/c/e/f", "a/c0", "a~", "A", "Z/z"}
	for _, k := range keys {
		mustPut(t, b, k, k)
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	prefixes := []string{"", "a", "a/", "a-", "a/c", "a/c/", "a/c/d", "a/c/e/", "ab", "b", "c", "Z/", "a/b/", "zzz/"}
	for _, p := range prefixes {
		t.Run("prefix="+p, func(t *testing.T) {
			want := []string{}
			for _, k := range sorted {
				if strings.HasPrefix(k, p) {
					want = append(want, k)
				}
			}
			if got := listKeys(t, b, p); !slices.Equal(got, want) {
				t.Fatalf("list %q = %q, want %q", p, got, want)
			}
		})
	}
}

func TestListStopsEarlyAndSkipsTempFiles(t *testing.T) {
	dir := t.TempDir()
	b := newBucket(t, dir)
	for _, k := range []string{"x/1", "x/2", "x/3"} {
		mustPut(t, b, k, k)
	}
	// A temporary file left by a crashed writer must never be listed.
	if err := os.WriteFile(filepath.Join(dir, "x", ".tmp-crashed"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, b, "x/"); !slices.Equal(got, []string{"x/1", "x/2", "x/3"}) {
		t.Fatalf("list = %q", got)
	}
	n := 0
	for _, err := range b.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("stopped after %d", n)
	}
}

// failAfter yields n bytes, then fails.
type failAfter struct {
	n   int
	err error
}

var errSource = errors.New("source broke")

func (r *failAfter) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

func TestFailedPutLeavesOldObjectAndNoTempFile(t *testing.T) {
	dir := t.TempDir()
	b := newBucket(t, dir)
	old := mustPut(t, b, "d/e/k", "old content")

	ctx, cancel := context.WithCancel(context.Background())
	cancelling := io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), readerFunc(func(p []byte) (int, error) {
		cancel()
		return copy(p, "more"), nil
	}), bytes.NewReader(make([]byte, 20<<20)))

	tests := []struct {
		name string
		ctx  context.Context
		r    io.Reader
		is   error
	}{
		{"reader fails", context.Background(), &failAfter{n: 5 << 20, err: errSource}, errSource},
		{"reader fails at once", context.Background(), &failAfter{err: errSource}, errSource},
		{"context cancelled midway", ctx, cancelling, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Put(tc.ctx, "d/e/k", tc.r, storage.PutOptions{Size: -1})
			if !errors.Is(err, tc.is) {
				t.Fatalf("put error %v, want one matching %v", err, tc.is)
			}
			if tc.is == errSource && storage.KindOf(err) != nil {
				t.Errorf("a failing reader gave %v, blamed on the storage (%v); want the reader's own error", err, storage.KindOf(err))
			}
			wantContent(t, b, "d/e/k", "old content")
			a, err := b.Stat(context.Background(), "d/e/k")
			if err != nil || a.Version != old.Version {
				t.Fatalf("stat = %+v, %v; want version %q", a, err, old.Version)
			}
			if left := dotFiles(t, dir); len(left) > 0 {
				t.Fatalf("temporary files left: %q", left)
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestDeletePrunesEmptyDirectories(t *testing.T) {
	dir := t.TempDir()
	b := newBucket(t, dir)
	ctx := context.Background()
	mustPut(t, b, "p/q/r/k1", "1")
	mustPut(t, b, "p/q/k2", "2")
	if err := b.Delete(ctx, "p/q/r/k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p", "q", "r")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("p/q/r should be pruned: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p", "q")); err != nil {
		t.Fatalf("p/q still holds p/q/k2 and must stay: %v", err)
	}
	if err := b.Delete(ctx, "p/q/k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("p should be pruned: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the root must stay: %v", err)
	}
}

// TestPutsRaceDeletesInOneDirectory has puts create a deep directory while deletes of
// sibling keys prune it: every put must succeed and be readable afterwards.
func TestPutsRaceDeletesInOneDirectory(t *testing.T) {
	b := newBucket(t, t.TempDir())
	ctx := context.Background()
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*2)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				key := fmt.Sprintf("deep/er/dir/w%d-%d", w, i)
				if _, err := b.PutBytes(ctx, key, []byte(key), storage.Condition{}); err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
					continue
				}
				if i%2 == 0 {
					if err := b.Delete(ctx, key); err != nil {
						errs <- fmt.Errorf("delete %s: %w", key, err)
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
	var want []string
	for w := range workers {
		for i := 1; i < rounds; i += 2 {
			want = append(want, fmt.Sprintf("deep/er/dir/w%d-%d", w, i))
		}
	}
	slices.Sort(want)
	if got := listKeys(t, b, "deep/"); !slices.Equal(got, want) {
		t.Fatalf("list = %d keys, want %d", len(got), len(want))
	}
}

func TestObjectAndDirectoryConflicts(t *testing.T) {
	b := newBucket(t, t.TempDir())
	ctx := context.Background()
	mustPut(t, b, "obj", "o")
	mustPut(t, b, "dir/child", "c")

	tests := []struct {
		name string
		key  string
		cond storage.Condition
	}{
		{"key below an object", "obj/x", storage.Condition{}},
		{"key deep below an object", "obj/x/y", storage.Condition{}},
		{"create-only below an object", "obj/x", storage.Condition{IfNotExists: true}},
		{"key that is a directory", "dir", storage.Condition{}},
		{"create-only key that is a directory", "dir", storage.Condition{IfNotExists: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.PutBytes(ctx, tc.key, []byte("new"), tc.cond)
			if !errors.Is(err, storage.ErrInvalidArgument) {
				t.Fatalf("put %q: %v, want invalid argument", tc.key, err)
			}
		})
	}
	if _, err := b.PutBytes(ctx, "dir", []byte("x"), storage.Condition{IfVersion: "x123"}); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("replace of a directory: %v, want precondition", err)
	}
	for _, op := range []func() error{
		func() error { _, err := b.Stat(ctx, "dir"); return err },
		func() error { _, _, err := b.Get(ctx, "dir", 0, -1); return err },
		func() error { _, err := b.Stat(ctx, "obj/x"); return err },
	} {
		if err := op(); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("got %v, want not found", err)
		}
	}
	if err := b.Delete(ctx, "dir"); err != nil {
		t.Fatalf("delete of a directory name: %v", err)
	}
	if err := b.Delete(ctx, "obj/x"); err != nil {
		t.Fatalf("delete below an object: %v", err)
	}
	wantContent(t, b, "obj", "o")
	wantContent(t, b, "dir/child", "c")
	if got := listKeys(t, b, ""); !slices.Equal(got, []string{"dir/child", "obj"}) {
		t.Fatalf("list = %q", got)
	}
}

// TestVersionsNeverRepeat puts the same bytes again and again, with and without a
// delete in between (the freed inode may be reused at once, within one clock tick).
func TestVersionsNeverRepeat(t *testing.T) {
	b := newBucket(t, t.TempDir())
	ctx := context.Background()
	seen := map[string]int{}
	for i := range 100 {
		a := mustPut(t, b, "v/k", "same bytes")
		if j, dup := seen[a.Version]; dup {
			t.Fatalf("put %d returned the version of put %d: %q", i, j, a.Version)
		}
		seen[a.Version] = i
		st, err := b.Stat(ctx, "v/k")
		if err != nil || st.Version != a.Version || st.Size != a.Size {
			t.Fatalf("stat after put %d = %+v, %v; put returned %+v", i, st, err, a)
		}
		if i%2 == 1 {
			if err := b.Delete(ctx, "v/k"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestReaderKeepsItsObject: a reader opened before a replace or a delete reads the
// whole old object, never a mix.
func TestReaderKeepsItsObject(t *testing.T) {
	b := newBucket(t, t.TempDir())
	ctx := context.Background()
	old := strings.Repeat("o", 1<<20)
	mustPut(t, b, "k", old)
	for _, change := range []func(){
		func() { mustPut(t, b, "k", strings.Repeat("n", 1<<19)) },
		func() {
			if err := b.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
		},
	} {
		mustPut(t, b, "k", old)
		rc, attrs, err := b.Get(ctx, "k", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 1000)
		if _, err := io.ReadFull(rc, head); err != nil {
			t.Fatal(err)
		}
		change()
		rest, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := string(head) + string(rest); got != old || attrs.Size != int64(len(old)) {
			t.Fatalf("reader saw %d bytes (size %d), not the old object", len(got), attrs.Size)
		}
	}
}

func TestClosedDriver(t *testing.T) {
	d, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := storage.NewBucket(d)
	ctx := context.Background()
	mustPut(t, b, "k", "v")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_, err1 := b.PutBytes(ctx, "k", []byte("x"), storage.Condition{})
	_, _, err2 := b.Get(ctx, "k", 0, -1)
	_, err3 := b.Stat(ctx, "k")
	err4 := b.Delete(ctx, "k")
	var err5 error
	for _, err := range b.List(ctx, "") {
		err5 = err
	}
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("call %d after Close: %v, want ErrClosed", i+1, err)
		}
	}
}

func TestNewRelativeRootAndRefusedRoot(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	d, err := disk.New("rel/data")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if want := filepath.Join(dir, "rel", "data"); d.Root() != want {
		t.Fatalf("root %q, want %q", d.Root(), want)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.New(filepath.Join(dir, "file")); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Fatalf("a root that is a file: %v, want invalid argument", err)
	}
}

// TestNoTempFilesLeft: every kind of put, won or lost, leaves no temporary file.
func TestNoTempFilesLeft(t *testing.T) {
	dir := t.TempDir()
	b := newBucket(t, dir)
	ctx := context.Background()
	first := mustPut(t, b, "t/plain", "1")
	steps := []struct {
		name string
		key  string
		cond storage.Condition
		want error
	}{
		{"create wins", "t/created", storage.Condition{IfNotExists: true}, nil},
		{"create loses", "t/created", storage.Condition{IfNotExists: true}, storage.ErrPrecondition},
		{"replace wins", "t/plain", storage.Condition{IfVersion: first.Version}, nil},
		{"replace loses", "t/plain", storage.Condition{IfVersion: first.Version}, storage.ErrPrecondition},
		{"replace of a missing key", "t/missing", storage.Condition{IfVersion: first.Version}, storage.ErrPrecondition},
		{"unconditional", "t/plain", storage.Condition{}, nil},
	}
	for _, s := range steps {
		_, err := b.PutBytes(ctx, s.key, []byte(s.name), s.cond)
		if s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
		if left := dotFiles(t, dir); len(left) > 0 {
			t.Fatalf("after %s: temporary files left: %q", s.name, left)
		}
	}
	wantContent(t, b, "t/created", "create wins")
	wantContent(t, b, "t/plain", "unconditional")
}

// permissionChildEnv, in a child process of this test binary, names the prepared store
// TestPermissionDenied checks there as an unprivileged user.
const permissionChildEnv = "LECTERN_DISK_TEST_PERMISSION_STORE"

// nobody is the uid and gid the checks run as when the test runs as root.
const nobody = 65534

// TestPermissionDenied: a folder the process may not write and a file it may not read
// give storage.ErrPermission. File modes do not stop root, so as root (the full test
// run) the checks run in a child process of this test binary as uid and gid 65534,
// on a store the child owns except for the locked folder and file.
func TestPermissionDenied(t *testing.T) {
	if store := os.Getenv(permissionChildEnv); store != "" {
		checkPermissionDenied(t, store)
		return
	}
	asRoot := os.Geteuid() == 0
	var base string
	if asRoot {
		// t.TempDir's folders are 0700, closed to the child: this one is open to it.
		// It is made in /tmp itself (mode 1777), not $TMPDIR, whose parents may be
		// closed to other users (TMPDIR=$HOME/tmp as root).
		var err error
		if base, err = os.MkdirTemp("/tmp", "lectern-disk-permission-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		base = t.TempDir()
	}
	store := filepath.Join(base, "store")
	b := newBucket(t, store)
	mustPut(t, b, "locked/k", "v")
	locked := filepath.Join(store, "locked")
	if asRoot {
		// The child owns the store (and its lock files), not what is locked.
		err := filepath.WalkDir(store, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == locked {
				return fs.SkipDir
			}
			return os.Lchown(p, nobody, nobody)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(locked, "k"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	if !asRoot {
		checkPermissionDenied(t, store)
		return
	}
	runAsNobody(t, base, store)
}

// checkPermissionDenied runs the checks of TestPermissionDenied on a prepared store.
func checkPermissionDenied(t *testing.T, store string) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Fatal("the permission checks run as root, which file modes do not stop")
	}
	b := newBucket(t, store)
	ctx := context.Background()
	if _, err := b.PutBytes(ctx, "locked/new", []byte("x"), storage.Condition{}); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("put into a read-only folder: %v, want permission", err)
	}
	if _, _, err := b.Get(ctx, "locked/k", 0, -1); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("get of an unreadable file: %v, want permission", err)
	}
	t.Logf("permission checks ran as uid %d", os.Geteuid())
}

// runAsNobody runs TestPermissionDenied's checks on store in a copy of this test
// binary (the original's folder is closed to other users) started as uid 65534.
func runAsNobody(t *testing.T, base, store string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "disk.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Dir = base
	cmd.Env = append(os.Environ(), permissionChildEnv+"="+store)
	// No supplementary groups: root's would let the child through group modes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the checks as uid %d failed: %v\n%s", nobody, err, out)
	}
	// A child that ran no test would also exit 0: it must say it ran the checks.
	if want := fmt.Sprintf("permission checks ran as uid %d", nobody); !strings.Contains(string(out), want) {
		t.Fatalf("the child did not run the checks as uid %d:\n%s", nobody, out)
	}
	t.Logf("the checks as uid %d:\n%s", nobody, out)
}
