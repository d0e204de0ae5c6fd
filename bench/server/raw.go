package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// makeSource writes size pseudo-random bytes (incompressible, reproducible) to a new
// file and reads it once so that every side reads it from the page cache.
func makeSource(path string, size int64, seed byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{seed})
	if _, err := io.CopyN(f, rng, size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyBuf is the buffer of the plain file copy: 1 MiB, as the disk backend's own copy
// buffer, so that neither side wins by buffer size.
var copyBuf = make([]byte, 1<<20)

// rawFileCopy is the reference write of SPEC section 8 for disk: copy the source file
// into a new file on the same file system, fsync it, close it.
func rawFileCopy(src, dst string) (time.Duration, error) {
	t0 := time.Now()
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	// A plain Reader/Writer pair, so io.CopyBuffer really uses the buffer instead of
	// copy_file_range (which would skip the page-cache copy every upload must make).
	if _, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, copyBuf); err != nil {
		out.Close()
		return 0, err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return 0, err
	}
	if err := out.Close(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// backendPut writes the source file with a Put through the storage contract (the disk
// backend lecternd uses, on the same file system): temporary file, fsync, rename,
// fsync of the folder.
func backendPut(ctx context.Context, b *storage.Bucket, key, src string) (time.Duration, error) {
	t0 := time.Now()
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if _, err := b.Put(ctx, key, in, storage.PutOptions{Size: st.Size()}); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// rawRead reads a file through a 256 KiB buffer (the download client's buffer).
func rawRead(path string) (time.Duration, error) {
	t0 := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, make([]byte, 256<<10)); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// removeAll deletes dir's entries (not dir), used to drop written objects between
// rounds so the disk does not fill up.
func removeAll(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("cleaning %s: %w", dir, err)
		}
	}
	return nil
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
