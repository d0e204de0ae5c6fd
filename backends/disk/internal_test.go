package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

func TestClassify(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"ENOENT", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, storage.ErrNotFound},
		{"ENOTDIR", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOTDIR}, storage.ErrNotFound},
		{"EACCES", &fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, storage.ErrPermission},
		{"EPERM", syscall.EPERM, storage.ErrPermission},
		{"EROFS", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EROFS}, storage.ErrPermission},
		{"EEXIST on link", &os.LinkError{Op: "link", Old: "a", New: "b", Err: syscall.EEXIST}, storage.ErrPrecondition},
		{"ENOSPC", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, storage.ErrUnavailable},
		{"EIO", fmt.Errorf("sync: %w", syscall.EIO), storage.ErrUnavailable},
		{"EDQUOT", syscall.EDQUOT, storage.ErrUnavailable},
		{"ENAMETOOLONG", syscall.ENAMETOOLONG, storage.ErrInvalidArgument},
		{"unknown error", errors.New("strange"), storage.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("put", "a/b", tc.err)
			if storage.KindOf(err) != tc.want {
				t.Fatalf("classify(%v) = %v, want category %v", tc.err, err, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("classify(%v) lost its cause: %v", tc.err, err)
			}
		})
	}
	err := classify("get", "k", fmt.Errorf("read: %w", ctx.Err()))
	if !errors.Is(err, context.Canceled) || storage.KindOf(err) != nil {
		t.Fatalf("a context error became %v", err)
	}
	already := storage.NewError(storage.ErrClosed, "put", "k", nil)
	if got := classify("put", "k", already); got != already {
		t.Fatalf("an already classified error was rewrapped: %v", got)
	}
}

// TestFallbackVersions runs the driver as on a file system without extended
// attributes: versions must still change on every put, also when the inode of a
// deleted file is reused at once, and Stat must agree with Put.
func TestFallbackVersions(t *testing.T) {
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.noXattr.Store(true)
	b := storage.NewBucket(d)
	ctx := context.Background()
	seen := map[string]bool{}
	inodes := map[uint64]int{}
	for i := range 100 {
		a, err := b.PutBytes(ctx, "k", []byte("same"), storage.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Version == "" || a.Version[0] != 'f' {
			t.Fatalf("version %q is not a fallback version", a.Version)
		}
		if seen[a.Version] {
			t.Fatalf("put %d repeated version %q", i, a.Version)
		}
		seen[a.Version] = true
		st, err := b.Stat(ctx, "k")
		if err != nil || st.Version != a.Version {
			t.Fatalf("stat = %+v, %v; put returned %q", st, err, a.Version)
		}
		fi, err := os.Stat(d.path("k"))
		if err != nil {
			t.Fatal(err)
		}
		inodes[fi.Sys().(*syscall.Stat_t).Ino]++
		if _, err := b.PutBytes(ctx, "k", []byte("same"), storage.Condition{IfVersion: a.Version}); err != nil {
			t.Fatalf("replace with the fallback version: %v", err)
		}
		if err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	reused := 0
	for _, n := range inodes {
		reused += n - 1
	}
	t.Logf("%d distinct versions over %d inodes (%d reuses)", len(seen), len(inodes), reused)
}
