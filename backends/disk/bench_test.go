package disk_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// The benchmarks compare the disk backend, used through storage.Bucket as the engine
// uses it, with plain os file I/O of the same bytes with the same durability, in the
// same run. Sub-benchmarks of one size run next to each other so that load from other
// processes hits both sides alike; docs/benchmarks.md has the command and the ratios.
//
//	put   lectern: Bucket.Put from a bytes.Reader (it writes itself out: no copy buffer)
//	      lectern-stream: the same bytes through a plain io.Reader (an upload body), so
//	        through the driver's copy buffer
//	      os: create a temporary file, write, fsync, close, rename over the previous
//	        object, fsync the directory: the same steps that make a put durable
//	get   lectern: Bucket.Get of the whole object, read through a 1 MiB buffer
//	      os: open, read through the same buffer, close
//
// Reads come from the page cache on both sides (the object was just written).

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

func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes {
		data := benchData(size.n)
		b.Run(size.name+"/os", func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(int64(size.n))
			for b.Loop() {
				plainWrite(b, dir, data)
			}
		})
		b.Run(size.name+"/lectern", func(b *testing.B) {
			bucket := newBucket(b, b.TempDir())
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if _, err := bucket.Put(context.Background(), "conf/set/slides", bytes.NewReader(data), storage.PutOptions{Size: int64(size.n)}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/lectern-stream", func(b *testing.B) {
			bucket := newBucket(b, b.TempDir())
			b.SetBytes(int64(size.n))
			for b.Loop() {
				body := struct{ io.Reader }{bytes.NewReader(data)} // hides WriterTo
				if _, err := bucket.Put(context.Background(), "conf/set/slides", body, storage.PutOptions{Size: -1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func plainWrite(b *testing.B, dir string, data []byte) {
	tmp, final := filepath.Join(dir, ".tmp"), filepath.Join(dir, "object")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		b.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		b.Fatal(err)
	}
	d.Close()
}

func BenchmarkGet(b *testing.B) {
	buf := make([]byte, 1<<20)
	drain := func(b *testing.B, r io.Reader, want int) {
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
		if total != want {
			b.Fatalf("read %d bytes, want %d", total, want)
		}
	}
	for _, size := range benchSizes {
		data := benchData(size.n)
		dir := b.TempDir()
		bucket := newBucket(b, dir)
		if _, err := bucket.PutBytes(context.Background(), "conf/set/slides", data, storage.Condition{}); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, "conf", "set", "slides")
		b.Run(size.name+"/os", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				drain(b, f, size.n)
				f.Close()
			}
		})
		b.Run(size.name+"/lectern", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				rc, _, err := bucket.Get(context.Background(), "conf/set/slides", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				drain(b, rc, size.n)
				rc.Close()
			}
		})
	}
}

// BenchmarkPaired measures both sides in every iteration, in alternating order, and
// reports each side's throughput and their ratio. On a shared machine whose load
// changes from second to second this gives a far steadier ratio than comparing
// separate benchmarks, which run seconds apart.
func BenchmarkPaired(b *testing.B) {
	buf := make([]byte, 1<<20)
	drain := func(b *testing.B, r io.Reader) {
		for {
			_, err := r.Read(buf)
			if err == io.EOF {
				return
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, size := range benchSizes {
		data := benchData(size.n)
		ctx := context.Background()
		b.Run("put/"+size.name, func(b *testing.B) {
			osDir := b.TempDir()
			bucket := newBucket(b, b.TempDir())
			plain := func() { plainWrite(b, osDir, data) }
			ours := func() {
				if _, err := bucket.Put(ctx, "conf/set/slides", bytes.NewReader(data), storage.PutOptions{Size: int64(size.n)}); err != nil {
					b.Fatal(err)
				}
			}
			runPaired(b, size.n, plain, ours)
		})
		b.Run("get/"+size.name, func(b *testing.B) {
			dir := b.TempDir()
			bucket := newBucket(b, dir)
			if _, err := bucket.PutBytes(ctx, "conf/set/slides", data, storage.Condition{}); err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(dir, "conf", "set", "slides")
			plain := func() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				drain(b, f)
				f.Close()
			}
			ours := func() {
				rc, _, err := bucket.Get(ctx, "conf/set/slides", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				drain(b, rc)
				rc.Close()
			}
			runPaired(b, size.n, plain, ours)
		})
	}
}

func runPaired(b *testing.B, n int, plain, ours func()) {
	var tPlain, tOurs time.Duration
	i := 0
	for b.Loop() {
		timed := func(f func(), into *time.Duration) {
			start := time.Now()
			f()
			*into += time.Since(start)
		}
		if i%2 == 0 {
			timed(plain, &tPlain)
			timed(ours, &tOurs)
		} else {
			timed(ours, &tOurs)
			timed(plain, &tPlain)
		}
		i++
	}
	mb := float64(n) * float64(i) / 1e6
	b.ReportMetric(mb/tPlain.Seconds(), "os-MB/s")
	b.ReportMetric(mb/tOurs.Seconds(), "lectern-MB/s")
	b.ReportMetric(tPlain.Seconds()/tOurs.Seconds(), "ratio")
}
