package disk_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// temps lists the temporary files in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// waitForTemp waits until dir holds a temporary file with data in it.
func waitForTemp(t *testing.T, dir string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range temps(t, dir) {
			if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Size() > 0 {
				return n
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no temporary file appeared")
	return ""
}

// TestPruneRemovesDeadPutTemps: the temporary file a dead put left (no process holds
// its lock) does not keep its directory alive once the directory's last key goes.
func TestPruneRemovesDeadPutTemps(t *testing.T) {
	root := t.TempDir()
	b := newBucket(t, root)
	mustPut(t, b, "uploads/u1/info", "record")
	dir := filepath.Join(root, "uploads", "u1")
	if err := os.WriteFile(filepath.Join(dir, ".tmp-00000000deadbeef"), []byte("half a part"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(context.Background(), "uploads/u1/info"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "uploads")); !os.IsNotExist(err) {
		t.Fatalf("the emptied directories are still there (%v), holding %v", err, temps(t, dir))
	}
}

// TestPruneKeepsLiveTemps: a put in progress keeps its temporary file and its
// directory however the directory's other keys are deleted, and then completes.
func TestPruneKeepsLiveTemps(t *testing.T) {
	root := t.TempDir()
	b := newBucket(t, root)
	mustPut(t, b, "d/k1", "one")
	dir := filepath.Join(root, "d")
	body, feed := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := b.Put(context.Background(), "d/k2", body, storage.PutOptions{Size: -1})
		done <- err
	}()
	if _, err := feed.Write([]byte("first half, ")); err != nil {
		t.Fatal(err)
	}
	live := waitForTemp(t, dir)
	if err := b.Delete(context.Background(), "d/k1"); err != nil {
		t.Fatal(err)
	}
	if got := temps(t, dir); len(got) != 1 || got[0] != live {
		t.Fatalf("the live put's temporary file %s: the directory holds %v", live, got)
	}
	if _, err := feed.Write([]byte("second half")); err != nil {
		t.Fatal(err)
	}
	feed.Close()
	if err := <-done; err != nil {
		t.Fatalf("the put whose directory's other key was deleted: %v", err)
	}
	wantContent(t, b, "d/k2", "first half, second half")
}

const deadPutChildEnv = "LECTERN_DISK_DEAD_PUT_CHILD"

// TestPruneRemovesTempOfKilledProcess: a process killed with SIGKILL in the middle of
// a put leaves its temporary file; while it was alive a prune kept the file, and once
// it is dead the next prune of the directory removes it.
func TestPruneRemovesTempOfKilledProcess(t *testing.T) {
	root := t.TempDir()
	b := newBucket(t, root)
	mustPut(t, b, "d/k1", "one")
	dir := filepath.Join(root, "d")
	child := startDeadPutChild(t, root)
	tmp := waitForTemp(t, dir)

	mustPut(t, b, "d/k2", "two")
	if err := b.Delete(context.Background(), "d/k2"); err != nil {
		t.Fatal(err)
	}
	if len(temps(t, dir)) != 1 {
		t.Fatalf("a prune took the live child's temporary file %s", tmp)
	}

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if err := b.Delete(context.Background(), "d/k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the directory outlived its last key (%v), holding %v", err, temps(t, dir))
	}
}

// TestRemoveLeftoversTakesTempOfKilledProcess: in a folder that keeps its keys,
// RemoveLeftovers removes the temporary file of a put whose process was killed, and
// keeps, whatever time it is given, the one of a put still running.
func TestRemoveLeftoversTakesTempOfKilledProcess(t *testing.T) {
	root := t.TempDir()
	b := newBucket(t, root)
	mustPut(t, b, "d/k1", "one")
	dir := filepath.Join(root, "d")
	child := startDeadPutChild(t, root)
	dead := waitForTemp(t, dir)
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	body, feed := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := b.Put(context.Background(), "d/k2", body, storage.PutOptions{Size: -1})
		done <- err
	}()
	if _, err := feed.Write([]byte("a put still running, ")); err != nil {
		t.Fatal(err)
	}
	var live string
	for deadline := time.Now().Add(30 * time.Second); live == ""; time.Sleep(5 * time.Millisecond) {
		for _, n := range temps(t, dir) {
			if n != dead {
				live = n
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the running put's temporary file never appeared")
		}
	}

	n, ok, err := b.RemoveLeftovers(context.Background(), time.Now().Add(time.Minute))
	if err != nil || !ok || n != 1 {
		t.Fatalf("RemoveLeftovers = %d, %v, %v; want the dead put's one file", n, ok, err)
	}
	if got := temps(t, dir); len(got) != 1 || got[0] != live {
		t.Fatalf("temporary files left %v, want only the live put's %s", got, live)
	}
	if _, err := feed.Write([]byte("and done")); err != nil {
		t.Fatal(err)
	}
	feed.Close()
	if err := <-done; err != nil {
		t.Fatalf("the running put: %v", err)
	}
	wantContent(t, b, "d/k2", "a put still running, and done")
	wantContent(t, b, "d/k1", "one")
}

// startDeadPutChild starts TestDeadPutChild on root and returns once its put is
// writing; the child is killed at the test's end if it is still running.
func startDeadPutChild(t *testing.T, root string) *exec.Cmd {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestDeadPutChild$", "-test.count=1")
	child.Env = append(os.Environ(), deadPutChildEnv+"="+root)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "WRITING" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	if !<-ready {
		t.Fatal("the child never started its put")
	}
	return child
}

// TestDeadPutChild is the child of TestPruneRemovesTempOfKilledProcess: it starts a
// put whose reader never ends, and says so once the first bytes are in.
func TestDeadPutChild(t *testing.T) {
	root := os.Getenv(deadPutChildEnv)
	if root == "" {
		t.Skip("only run as the child of TestPruneRemovesTempOfKilledProcess")
	}
	b := newBucket(t, root)
	body, feed := io.Pipe()
	go func() {
		_, _ = feed.Write([]byte("the first bytes of a put that never ends"))
		os.Stdout.WriteString("WRITING\n")
		select {} // until killed
	}()
	_, err := b.Put(context.Background(), "d/k3", body, storage.PutOptions{Size: -1})
	t.Fatalf("the put ended: %v", err)
}

// TestRemoveLeftoversPrunesOldEmptyFolders: a put that died between making its
// folders and its temporary file leaves empty folders, which keep a key of their name
// from being stored. RemoveLeftovers removes those empty since before its time, and
// nothing else: not a folder emptied just now, not one that holds a key.
func TestRemoveLeftoversPrunesOldEmptyFolders(t *testing.T) {
	root := t.TempDir()
	b := newBucket(t, root)
	mustPut(t, b, "kept/obj", "stored")
	old := time.Now().Add(-2 * time.Hour)
	for _, dir := range []string{"dead/put/folder", "fresh/folder"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"dead/put/folder", "dead/put", "dead", "kept"} {
		if err := os.Chtimes(filepath.Join(root, dir), old, old); err != nil {
			t.Fatal(err)
		}
	}
	n, ok, err := b.RemoveLeftovers(context.Background(), time.Now().Add(-time.Hour))
	if err != nil || !ok || n != 0 {
		t.Fatalf("RemoveLeftovers = %d, %v, %v; want 0 files removed", n, ok, err)
	}
	for dir, want := range map[string]bool{"dead": false, "fresh/folder": true, "kept": true} {
		if _, err := os.Stat(filepath.Join(root, dir)); (err == nil) != want {
			t.Errorf("%s: present %v, want %v", dir, err == nil, want)
		}
	}
	mustPut(t, b, "dead", "a key where the dead put's folder was")
	if got, _, err := b.ReadAll(context.Background(), "kept/obj"); err != nil || string(got) != "stored" {
		t.Fatalf("kept/obj: %q, %v", got, err)
	}
}
