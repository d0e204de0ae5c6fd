package disk_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// The benchmarks compare the disk backend, used through storage.Bucket as the engine
// uses it, with plain os file I/O of the same bytes and the same durability, in the
// same run; docs/benchmarks.md has the command and the ratios.
//
//	put   lectern: Bucket.Put of a new key from a bytes.Reader (it writes itself out,
//	        so no copy buffer is involved)
//	      lectern-stream: the same through a plain io.Reader, as an upload body or a
//	        decrypting stream arrives, so through the driver's copy buffer
//	      os: create a temporary file, write the bytes in one call, fsync, close, rename
//	        to the final name, fsync the directory: the steps that make a put durable
//	      os-stream (paired only): the same, copying through a 1 MiB buffer as any
//	        program must when its bytes come from a stream
//	get   lectern: Bucket.Get of the whole object, read through a 1 MiB buffer
//	      os: open, read through the same buffer, close
//
// Every put writes a new object, as Lectern's content uploads do. After each timed put
// the object is deleted and the file system synced with the timer stopped: otherwise
// the next operation's fsync pays for the previous one's freed blocks (the disk here
// is mounted with online discard) or for other processes' dirty data. Reads come from
// the page cache on both sides (the object was just written).

var benchSizes = []struct {
	name string
	n    int
}{{"1MiB", 1 << 20}, {"256MiB", 256 << 20}}

func benchData(n int) []byte {
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	return data
}

// side is one way of storing or reading object number i, and of removing it again.
type side = conformance.PairedSide

// plainPut writes objects into dir (made if missing) with plain os calls; name is
// the side's name and tells its files apart when two sides share a folder.
func plainPut(b *testing.B, data []byte, dir, name string, stream bool) side {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	file := func(i int) string { return filepath.Join(dir, fmt.Sprintf("%s-%d", name, i)) }
	return side{
		Name: name,
		Run: func(b *testing.B, i int) {
			tmp := filepath.Join(dir, ".tmp-"+name)
			f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			if stream {
				// As a program copies a stream to a file: through a buffer of the driver's
				// size. The file is wrapped because io.CopyBuffer would otherwise call
				// os.File.ReadFrom, which ignores the buffer and copies through 32 KiB.
				w := struct{ io.Writer }{f}
				if _, err := io.CopyBuffer(w, struct{ io.Reader }{bytes.NewReader(data)}, make([]byte, 1<<20)); err != nil {
					b.Fatal(err)
				}
			} else if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(tmp, file(i)); err != nil {
				b.Fatal(err)
			}
			if err := syncPath(dir); err != nil {
				b.Fatal(err)
			}
		},
		Cleanup: func(b *testing.B, i int) {
			if err := os.Remove(file(i)); err != nil {
				b.Fatal(err)
			}
			settle(b, dir)
		},
	}
}

// lecternPut puts objects under conf/set/ of a new folder, which it returns too.
func lecternPut(b *testing.B, data []byte, stream bool) (side, string) {
	name := "lectern"
	if stream {
		name = "lectern-stream"
	}
	dir := b.TempDir()
	bucket := newBucket(b, dir)
	key := func(i int) string { return fmt.Sprintf("conf/set/slides-%d", i) }
	// A neighbour keeps conf/set alive: otherwise deleting the only object (the
	// cleanup) prunes the folders and every timed put would create and fsync them
	// again, which the plain side, whose folders stay, does not do. In Lectern a
	// conference's folder holds many objects.
	if _, err := bucket.PutBytes(context.Background(), "conf/set/keep", []byte("x"), storage.Condition{}); err != nil {
		b.Fatal(err)
	}
	return side{
		Name: name,
		Run: func(b *testing.B, i int) {
			var r io.Reader = bytes.NewReader(data)
			size := int64(len(data))
			if stream {
				r, size = struct{ io.Reader }{r}, -1 // hides WriterTo, as an upload body does
			}
			if _, err := bucket.Put(context.Background(), key(i), r, storage.PutOptions{Size: size}); err != nil {
				b.Fatal(err)
			}
		},
		Cleanup: func(b *testing.B, i int) {
			if err := bucket.Delete(context.Background(), key(i)); err != nil {
				b.Fatal(err)
			}
			settle(b, dir)
		},
	}, filepath.Join(dir, "conf", "set")
}

func syncPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// settle writes out the whole file system (syncfs), so that no earlier work is left
// for the next timed operation to pay for.
func settle(b *testing.B, dir string) {
	d, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes {
		data := benchData(size.n)
		sides := []struct {
			name string
			make func(b *testing.B) side
		}{
			{"os", func(b *testing.B) side {
				return plainPut(b, data, filepath.Join(b.TempDir(), "conf", "set"), "os", false)
			}},
			{"lectern", func(b *testing.B) side { s, _ := lecternPut(b, data, false); return s }},
			{"lectern-stream", func(b *testing.B) side { s, _ := lecternPut(b, data, true); return s }},
		}
		for _, s := range sides {
			b.Run(size.name+"/"+s.name, func(b *testing.B) {
				sd := s.make(b)
				b.SetBytes(int64(size.n))
				i := 0
				for b.Loop() {
					sd.Run(b, i)
					b.StopTimer()
					sd.Cleanup(b, i)
					b.StartTimer()
					i++
				}
			})
		}
	}
}

// readers returns the plain and the Lectern way of reading one stored object whole.
func readers(b *testing.B, data []byte) (plain, ours side) {
	dir := b.TempDir()
	bucket := newBucket(b, dir)
	ctx := context.Background()
	if _, err := bucket.PutBytes(ctx, "conf/set/slides", data, storage.Condition{}); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "conf", "set", "slides")
	buf := make([]byte, 1<<20)
	drain := func(b *testing.B, r io.Reader) {
		total := 0
		for {
			n, err := r.Read(buf)
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if total != len(data) {
			b.Fatalf("read %d bytes, want %d", total, len(data))
		}
	}
	plain = side{Name: "os", Run: func(b *testing.B, _ int) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		drain(b, f)
		f.Close()
	}}
	ours = side{Name: "lectern", Run: func(b *testing.B, _ int) {
		rc, _, err := bucket.Get(ctx, "conf/set/slides", 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		drain(b, rc)
		rc.Close()
	}}
	return plain, ours
}

func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes {
		data := benchData(size.n)
		for _, name := range []string{"os", "lectern"} {
			b.Run(size.name+"/"+name, func(b *testing.B) {
				plain, ours := readers(b, data)
				sd := map[string]side{"os": plain, "lectern": ours}[name]
				b.SetBytes(int64(size.n))
				for b.Loop() {
					sd.Run(b, 0)
				}
			})
		}
	}
}

// BenchmarkPaired measures both sides in every iteration, in alternating order, and
// reports each side's throughput and their ratio. On a shared machine whose load
// changes from second to second this gives a far steadier ratio than comparing
// separate benchmarks, which run seconds apart.
func BenchmarkPaired(b *testing.B) {
	for _, size := range benchSizes {
		data := benchData(size.n)
		// Both sides write into the same folder, so that where the file system places
		// a folder on the disk cannot favour one side.
		b.Run("put/"+size.name, func(b *testing.B) {
			ours, dir := lecternPut(b, data, false)
			conformance.RunPaired(b, int64(size.n), plainPut(b, data, dir, "os", false), ours)
		})
		b.Run("put-stream/"+size.name, func(b *testing.B) {
			ours, dir := lecternPut(b, data, true)
			conformance.RunPaired(b, int64(size.n), plainPut(b, data, dir, "os", false), ours)
		})
		// The same stream against a plain program that must copy a stream too.
		b.Run("put-stream-vs-os-stream/"+size.name, func(b *testing.B) {
			ours, dir := lecternPut(b, data, true)
			conformance.RunPaired(b, int64(size.n), plainPut(b, data, dir, "os-stream", true), ours)
		})
		// os-vs-os pairs plain I/O with itself: its ratios show how far the machine's
		// noise alone moves a ratio that should be 1.
		b.Run("os-vs-os-put/"+size.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "conf", "set")
			conformance.RunPaired(b, int64(size.n), plainPut(b, data, dir, "os-first", false), plainPut(b, data, dir, "os-second", false))
		})
		b.Run("get/"+size.name, func(b *testing.B) {
			plain, ours := readers(b, data)
			conformance.RunPaired(b, int64(size.n), plain, ours)
		})
	}
}
