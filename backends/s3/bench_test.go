package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/conference/conferencetest"
	"github.com/lectern/lectern/core/storage"
)

const benchSize = 256 << 20

// benchFixture is a bucket with a production-configured driver (default part size
// and concurrency) and a minio-go client on the same server.
func benchFixture(b *testing.B) (*storage.Bucket, *miniogo.Client, string) {
	b.Helper()
	return benchFixtureOn(b, minio.Start)
}

// benchFixtureOn is benchFixture on the server start gives: minio.Start (plain
// HTTP) or minio.StartTLS, whose certificate the driver trusts through
// AWS_CA_BUNDLE, as a user with a private CA would.
func benchFixtureOn(b *testing.B, start func(testing.TB) *minio.Server) (*storage.Bucket, *miniogo.Client, string) {
	b.Helper()
	srv := start(b)
	if srv.CACertFile != "" {
		b.Setenv("AWS_CA_BUNDLE", srv.CACertFile)
	}
	f := &fixture{srv: srv, bucket: srv.NewBucket(b)}
	d := f.driver(b, benchConfig)
	return storage.NewBucket(d), f.srv.Client(b), f.bucket
}

// benchConfig gives the benchmarks the production defaults (not the tests' small
// parts), unless LECTERN_S3_BENCH_PART_MIB or LECTERN_S3_BENCH_CONCURRENCY ask for
// other values to compare.
func benchConfig(c *s3.Config) {
	c.PartSize, c.Concurrency, c.MaxBackoff = 0, 0, 0
	if v, err := strconv.Atoi(os.Getenv("LECTERN_S3_BENCH_PART_MIB")); err == nil {
		c.PartSize = int64(v) << 20
	}
	if v, err := strconv.Atoi(os.Getenv("LECTERN_S3_BENCH_CONCURRENCY")); err == nil {
		c.Concurrency = v
	}
}

// pair runs the backend and the raw client doing the same thing in each iteration,
// alternating which goes first (conformance.RunPaired: each side's MB/s, ratio,
// median-ratio), and also reports each side's client CPU time per GiB (user + system,
// this process): unlike the wall time, it hardly depends on what else the machine
// is doing.
func pair(b *testing.B, size int64, lectern, raw func() error) {
	b.Helper()
	var cl, cr time.Duration
	runs := 0
	side := func(name string, fn func() error, cpu *time.Duration) conformance.PairedSide {
		return conformance.PairedSide{Name: name, Run: func(b *testing.B, _ int) {
			c0 := cpuTime()
			if err := fn(); err != nil {
				b.Fatal(err)
			}
			*cpu += cpuTime() - c0
			runs++
		}}
	}
	conformance.RunPaired(b, size, side("minio-go", raw, &cr), side("lectern", lectern, &cl))
	gib := float64(size) * float64(runs/2) / (1 << 30)
	b.ReportMetric(cl.Seconds()/gib, "lectern-cpu-s/GiB")
	b.ReportMetric(cr.Seconds()/gib, "minio-go-cpu-s/GiB")
}

// cpuTime returns the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPut256MiB: a 256 MiB put through the backend (streamed, as the engine
// streams an encrypted upload) against minio-go's PutObject of the same bytes to the
// same MinIO.
func BenchmarkPut256MiB(b *testing.B) {
	bucket, mc, name := benchFixture(b)
	data := pattern(benchSize, 42)
	ctx := context.Background()
	pair(b, benchSize,
		func() error {
			_, err := bucket.Put(ctx, "bench/lectern", bytes.NewReader(data), storage.PutOptions{Size: benchSize})
			return err
		},
		func() error {
			_, err := mc.PutObject(ctx, name, "bench/raw", bytes.NewReader(data), benchSize, miniogo.PutObjectOptions{})
			return err
		})
}

// BenchmarkEngineStore256MiB is SPEC section 8's upload bar on S3: the engine's
// StoreContent (encrypt + store, create-only, through this backend) of 256 MiB
// against minio-go's PutObject of the same plaintext to the same MinIO, over plain
// HTTP (where both clients hash every byte with SHA-256 to sign it) and over HTTPS
// (where neither does, as against AWS).
func BenchmarkEngineStore256MiB(b *testing.B) {
	for _, srv := range []struct {
		name  string
		start func(testing.TB) *minio.Server
	}{{"http", minio.Start}, {"https", minio.StartTLS}} {
		b.Run(srv.name, func(b *testing.B) {
			bucket, mc, name := benchFixtureOn(b, srv.start)
			eng := conferencetest.BenchEngine(b, bucket)
			data := pattern(benchSize, 44)
			ctx := context.Background()
			pair(b, benchSize,
				func() error {
					_, err := eng.StoreContent(ctx, conferencetest.BenchConference, conference.SlideContent, "bin", bytes.NewReader(data), benchSize)
					return err
				},
				func() error {
					_, err := mc.PutObject(ctx, name, "bench/raw", bytes.NewReader(data), benchSize, miniogo.PutObjectOptions{})
					return err
				})
		})
	}
}

// BenchmarkGet256MiB: a 256 MiB get through the backend against minio-go's
// GetObject of the same bytes from the same MinIO.
func BenchmarkGet256MiB(b *testing.B) {
	bucket, mc, name := benchFixture(b)
	data := pattern(benchSize, 43)
	ctx := context.Background()
	if _, err := bucket.Put(ctx, "bench/lectern", bytes.NewReader(data), storage.PutOptions{Size: benchSize}); err != nil {
		b.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, name, "bench/raw", bytes.NewReader(data), benchSize, miniogo.PutObjectOptions{}); err != nil {
		b.Fatal(err)
	}
	check := func(n int64, err error) error {
		if err == nil && n != benchSize {
			err = fmt.Errorf("read %d bytes, want %d", n, benchSize)
		}
		return err
	}
	pair(b, benchSize,
		func() error {
			rc, _, err := bucket.Get(ctx, "bench/lectern", 0, -1)
			if err != nil {
				return err
			}
			defer rc.Close()
			return check(io.Copy(io.Discard, rc))
		},
		func() error {
			obj, err := mc.GetObject(ctx, name, "bench/raw", miniogo.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer obj.Close()
			return check(io.Copy(io.Discard, obj))
		})
}

// genReader yields size bytes of a repeating pattern without holding them: the
// source of a 1 GiB upload of unknown length.
type genReader struct {
	block []byte
	left  int64
	pos   int
}

func newGenReader(size int64) *genReader {
	return &genReader{block: pattern(64<<10, 5), left: size}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.left > 0 {
		k := copy(p[n:min(len(p), n+int(g.left))], g.block[g.pos:])
		g.pos = (g.pos + k) % len(g.block)
		n += k
		g.left -= int64(k)
	}
	return n, nil
}

const peakSize = 1 << 30

// BenchmarkPeakMemoryPut1GiB measures the memory of a 1 GiB put of unknown length
// through the backend with the default part size and concurrency: the Go heap in use
// (sampled during the put, in this process) and the maximum resident set size of a
// child process that does nothing but that put (target: under 64 MiB).
func BenchmarkPeakMemoryPut1GiB(b *testing.B) {
	f := newFixture(b)
	d := f.driver(b, benchConfig)
	bucket := storage.NewBucket(d)
	ctx := context.Background()

	var peakHeap, peakChild float64
	for b.Loop() {
		runtime.GC()
		peak := sampleHeap(func() {
			a, err := bucket.Put(ctx, "peak/1GiB", hiddenReader{newGenReader(peakSize)}, storage.PutOptions{Size: -1})
			if err != nil {
				b.Fatal(err)
			}
			if a.Size != peakSize {
				b.Fatalf("Put stored %d bytes, want %d", a.Size, peakSize)
			}
		})
		peakHeap = max(peakHeap, float64(peak)/(1<<20))
		peakChild = max(peakChild, childPeakRSS(b, f))
	}
	b.ReportMetric(peakHeap, "peak-heap-MiB")
	b.ReportMetric(peakChild, "child-peak-rss-MiB")
}

// childPeakRSS runs the same put in a child process (this test binary, running
// TestPeakMemoryChild only) and returns the child's peak resident set size in MiB.
func childPeakRSS(b *testing.B, f *fixture) float64 {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakMemoryChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(),
		"LECTERN_S3_PEAK_CHILD=1",
		"LECTERN_S3_ENDPOINT="+f.srv.Endpoint,
		"LECTERN_S3_ACCESS_KEY="+f.srv.AccessKey,
		"LECTERN_S3_SECRET_KEY="+f.srv.SecretKey,
		"LECTERN_S3_PEAK_BUCKET="+f.bucket,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	// Not the rusage of the child: Linux carries the parent's high-water mark over
	// the exec of a vfork-ed child, so the child reports its own VmHWM.
	m := regexp.MustCompile(`LECTERN_VMHWM_KB=(\d+)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("the child did not report its peak memory:\n%s", out)
	}
	kb, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatal(err)
	}
	return kb / 1024
}

// TestPeakMemoryChild is the child process of BenchmarkPeakMemoryPut1GiB; it does
// nothing unless the benchmark started it.
func TestPeakMemoryChild(t *testing.T) {
	if os.Getenv("LECTERN_S3_PEAK_CHILD") != "1" {
		t.Skip("run by BenchmarkPeakMemoryPut1GiB only")
	}
	cfg := s3.Config{
		Bucket:          os.Getenv("LECTERN_S3_PEAK_BUCKET"),
		Endpoint:        os.Getenv("LECTERN_S3_ENDPOINT"),
		AccessKeyID:     os.Getenv("LECTERN_S3_ACCESS_KEY"),
		SecretAccessKey: os.Getenv("LECTERN_S3_SECRET_KEY"),
		UsePathStyle:    true,
	}
	benchConfig(&cfg)
	d, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, err := storage.NewBucket(d).Put(context.Background(), "peak/child", hiddenReader{newGenReader(peakSize)}, storage.PutOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != peakSize {
		t.Fatalf("stored %d bytes", a.Size)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status on this system")
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatal("no VmHWM in /proc/self/status")
	}
	fmt.Printf("LECTERN_VMHWM_KB=%s\n", m[1])
}

// sampleHeap runs fn and returns the peak of the Go heap in use (live and not yet
// swept objects, plus unused parts of in-use spans) seen while it ran, sampled every
// 5 ms through runtime/metrics, which does not stop the world.
func sampleHeap(fn func()) uint64 {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	var peak atomic.Uint64
	read := func() {
		metrics.Read(samples)
		if v := samples[0].Value.Uint64() + samples[1].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				read()
			}
		}
	}()
	fn()
	close(stop)
	<-done
	read()
	return peak.Load()
}
