package docker

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	dc "github.com/ory/dockertest/v3/docker"
)

// Image is a local image made of files copied from the host: no base image, no
// registry. Binaries that are dynamically linked bring their shared libraries and ELF
// interpreter along, so a cgo build works as well as a static one.
type Image struct {
	// Repository is the image name without tag, e.g. "lectern-test/minio". The tag is
	// derived from the contents, so a rebuilt binary gives a new image.
	Repository string
	// Files maps a path in the image to the host file copied there; a host folder is
	// copied with everything in it (symbolic links are followed).
	Files map[string]string
	// Dirs are empty folders to create, each owned by Owner with mode 0755 ("/tmp" gets
	// 1777).
	Dirs []string
	// Owner is the uid:gid owning Dirs, e.g. 65532 for a non-root server.
	Owner int
}

// ImageName is what EnsureImage built: repository:tag.
type ImageName string

// EnsureImage builds img unless an image with the same contents exists, and returns its
// name. It reads every file to hash it, which takes well under a second for a 150 MB
// binary.
func (d *Daemon) EnsureImage(ctx context.Context, img Image) (ImageName, error) {
	files, err := withLibraries(ctx, img.Files)
	if err != nil {
		return "", err
	}
	tag, err := contentTag(files, img)
	if err != nil {
		return "", err
	}
	name := ImageName(img.Repository + ":" + tag)
	if _, err := d.pool.Client.InspectImage(string(name)); err == nil {
		return name, nil
	} else if !errors.Is(err, dc.ErrNoSuchImage) {
		return "", fmt.Errorf("inspecting image %s: %w", name, err)
	}
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		err := writeRootfs(pw, files, img)
		pw.CloseWithError(err)
		werr <- err
	}()
	err = d.pool.Client.ImportImage(dc.ImportImageOptions{
		Repository:   img.Repository,
		Tag:          tag,
		Source:       "-",
		InputStream:  pr,
		OutputStream: io.Discard,
		Context:      ctx,
	})
	pr.Close()
	// The writer's error explains a failed import better than the daemon's EOF.
	if e := <-werr; e != nil && !errors.Is(e, io.ErrClosedPipe) {
		return "", fmt.Errorf("building image %s: %w", name, e)
	}
	if err != nil {
		return "", fmt.Errorf("importing image %s: %w", name, err)
	}
	return name, nil
}

// withLibraries adds, for every dynamically linked ELF file, its interpreter and the
// shared libraries it loads, at their host paths. ldd (glibc's) resolves them the way
// the loader will, transitive dependencies included; parsing DT_NEEDED by hand would
// have to reimplement the search path rules.
func withLibraries(ctx context.Context, files map[string]string) (map[string]string, error) {
	files, err := expandDirs(files)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for dst, src := range files {
		out[dst] = src
		dynamic, err := isDynamicELF(src)
		if err != nil {
			return nil, err
		}
		if !dynamic {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b, err := exec.CommandContext(cctx, "ldd", src).Output()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ldd %s (needed to copy its shared libraries; or build it static with CGO_ENABLED=0): %w", src, err)
		}
		for _, lib := range parseLdd(string(b)) {
			// At the path ldd printed, which is the path the loader will open.
			out[lib] = lib
		}
	}
	return out, nil
}

// parseLdd returns the absolute paths in ldd's output: "libc.so.6 => /lib/x/libc.so.6
// (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)"; the vDSO has no path.
func parseLdd(out string) []string {
	var libs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if _, after, ok := strings.Cut(line, "=>"); ok {
			line = strings.TrimSpace(after)
		}
		p, _, _ := strings.Cut(line, " ")
		if strings.HasPrefix(p, "/") && !slices.Contains(libs, p) {
			libs = append(libs, p)
		}
	}
	return libs
}

// expandDirs replaces each folder in files by the regular files under it.
func expandDirs(files map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for dst, src := range files {
		st, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out[dst] = src
			continue
		}
		err = filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil // folders, dangling links, sockets: nothing to copy
			}
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			out[path.Join(dst, filepath.ToSlash(rel))] = p
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// isDynamicELF reports whether name is an ELF file that loads shared libraries: an
// executable with an interpreter, or a shared object (a plugin loaded with dlopen)
// that needs other libraries.
func isDynamicELF(name string) (bool, error) {
	f, err := elf.Open(name)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil // not an ELF file (or shorter than its header): copied as it is
		}
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	if f.Type == elf.ET_DYN {
		libs, err := f.ImportedLibraries()
		return err == nil && len(libs) > 0, nil
	}
	return false, nil
}

// contentTag hashes the image's layout and every file's contents.
func contentTag(files map[string]string, img Image) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "owner=%d dirs=%q\n", img.Owner, img.Dirs)
	for _, dst := range sortedKeys(files) {
		fmt.Fprintf(h, "%s\n", dst)
		f, err := os.Open(files[dst])
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", files[dst], err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// writeRootfs writes the image's file system as a tar stream, folders first.
func writeRootfs(w io.Writer, files map[string]string, img Image) error {
	tw := tar.NewWriter(w)
	made := map[string]bool{}
	mkdir := func(dir string, owner, mode int) error {
		var parents []string
		for d := dir; d != "/" && d != "." && !made[d]; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			d := parents[i]
			made[d] = true
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: time.Unix(0, 0)}
			if i == 0 {
				hdr.Uid, hdr.Gid, hdr.Mode = owner, owner, int64(mode)
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
		return nil
	}
	for _, dir := range img.Dirs {
		mode := 0o755
		if dir == "/tmp" {
			mode = 0o1777
		}
		if err := mkdir(path.Clean(dir), img.Owner, mode); err != nil {
			return err
		}
	}
	for _, key := range sortedKeys(files) {
		dst := path.Clean(key)
		if err := mkdir(path.Dir(dst), 0, 0o755); err != nil {
			return err
		}
		if err := copyInto(tw, dst, files[key]); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyInto(tw *tar.Writer, dst, src string) error {
	f, err := os.Open(src) // follows symlinks: the image gets the file itself
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg, Name: strings.TrimPrefix(filepath.ToSlash(dst), "/"),
		Size: st.Size(), Mode: int64(st.Mode().Perm()), ModTime: time.Unix(0, 0),
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("copying %s into the image: %w", src, err)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// RemoveImage deletes an image this package or a test built, so that images built
// from throwaway binaries do not pile up in the daemon. A missing image is not an
// error.
func (d *Daemon) RemoveImage(ctx context.Context, name string) error {
	err := d.pool.Client.RemoveImageExtended(name, dc.RemoveImageOptions{Force: true, Context: ctx})
	if err != nil && !errors.Is(err, dc.ErrNoSuchImage) {
		return fmt.Errorf("removing image %s: %w", name, err)
	}
	return nil
}
