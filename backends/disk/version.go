//go:build unix

package disk

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Versions.
//
// A version must change on every successful put, even two puts within one tick of the
// file system's clock, and even when a delete frees an inode that the next put reuses.
// Where the file system keeps user extended attributes (ext4, XFS, btrfs, tmpfs on
// Linux), each put stores 128 random bits in the attribute user.lectern.version of
// its new file before the file is fsynced and renamed into place; the version is "x"
// followed by those bits. Because the attribute travels with the inode, a reader
// holding the file, Stat and the version check of a conditional put all see the
// version of exactly the file they look at.
//
// Without extended attributes (some network and FAT-like file systems) the version is
// derived from the file: "f" + inode + modification time in nanoseconds + size. The
// inode alone is not enough (a deleted file's inode may be reused at once), nor is the
// time (a coarse clock tick covers many puts). So the put sets the new file's
// modification time to the current time minus a random fraction of a second: for two
// files to collide they would need the same inode, the same size and the same random
// nanosecond (about one chance in 10^9 even when the inode is reused within one tick).
// The price is a ModTime up to one second early, on those file systems only.

const xattrName = "user.lectern.version"

// newVersionID returns 128 random bits in hex.
func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// stampVersion gives the new file f (at path) its version and returns it.
func (d *Driver) stampVersion(f *os.File, path string) (string, error) {
	if !d.noXattr.Load() {
		id := newVersionID()
		err := fsetxattr(f, xattrName, []byte(id))
		if err == nil {
			return "x" + id, nil
		}
		if !errors.Is(err, errUnsupported) {
			return "", fmt.Errorf("set version attribute: %w", err)
		}
		if d.noXattr.CompareAndSwap(false, true) {
			d.log.Info("disk: file system has no user extended attributes; versions fall back to inode, time and size", "root", d.root)
		}
	}
	jitter, _ := rand.Int(rand.Reader, big.NewInt(int64(time.Second)))
	t := time.Now().Add(-time.Duration(jitter.Int64()))
	if err := os.Chtimes(path, t, t); err != nil {
		return "", fmt.Errorf("set modification time: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	return fallbackVersion(fi), nil
}

// readVersion returns the version of the open file f, whose FileInfo is fi.
func readVersion(f *os.File, fi os.FileInfo) (string, error) {
	var buf [64]byte
	n, err := fgetxattr(f, xattrName, buf[:])
	switch {
	case err == nil && n > 0:
		return "x" + string(buf[:n]), nil
	case err == nil, errors.Is(err, errUnsupported), errors.Is(err, errNoAttr):
		return fallbackVersion(fi), nil
	}
	return "", fmt.Errorf("read version attribute: %w", err)
}

func fallbackVersion(fi os.FileInfo) string {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return "f" + strconv.FormatUint(ino, 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16) + "-" + strconv.FormatInt(fi.Size(), 16)
}
