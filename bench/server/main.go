// Command server measures lecternd on this machine against the raw things, in the
// same run, as SPEC section 8 asks: a tus upload through the API against a plain file
// copy with fsync and a disk-backend Put (and against tusd's own server) and, on S3,
// against minio-go's PutObject to the same MinIO, a
// ciphertext download and the small-file GET rate against nginx serving the same
// stored file, and lecternd's peak RSS during a 1 GiB upload and download. A profile
// phase assembles the same server in this process to show where an upload's time
// goes. Every side runs once per round, in rotated order, and the report gives
// medians and the spread of the per-round ratios.
//
// It starts and stops every server it needs (lecternd, nginx, tusd) on free ports of
// 127.0.0.1, works in a temporary folder that it removes, and writes report.md and
// the CPU profiles to -out. bench/server.sh builds what it needs and runs it; see
// docs/benchmarks-server.md. It must know nothing of Lectern's internals beyond
// what lecternd assembles (the profile phase) and the public HTTP API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
)

type options struct {
	lecterndBin, nginxBin, tusdBin, wrkBin string
	straceBin, minioBin                    string
	dir, out                               string
	phases                                 map[string]bool
	size, big, chunk                       int64
	rounds                                 int
	smallSizes                             []int64
	smallDur                               time.Duration
	wrkThreads, wrkConns, nginxWorkers     int
	keep                                   bool
	srcFile                                string
}

type sizeFlag struct{ v *int64 }

func (s sizeFlag) String() string {
	if s.v == nil {
		return ""
	}
	return humanize.IBytes(uint64(*s.v))
}

func (s sizeFlag) Set(v string) error {
	n, err := humanize.ParseBytes(v)
	if err != nil {
		return err
	}
	*s.v = int64(n)
	return nil
}

func human(n int64) string { return humanize.IBytes(uint64(n)) }

const allPhases = "upload,download,small,rss,profile,s3"

func parseFlags() (options, error) {
	o := options{size: 256 << 20, big: 1 << 30, chunk: 8 << 20}
	var phases, small string
	flag.StringVar(&o.lecterndBin, "lecternd", "", "lecternd binary (required; bench/server.sh builds it)")
	flag.StringVar(&o.nginxBin, "nginx", "nginx", "nginx binary (Debian package nginx)")
	flag.StringVar(&o.tusdBin, "tusd", "", "tusd v2.8.0 binary; empty: the upload phase runs without the tusd sides")
	flag.StringVar(&o.wrkBin, "wrk", "wrk", "wrk binary (Debian package wrk)")
	flag.StringVar(&o.straceBin, "strace", "", "strace binary: also count system calls per small GET (empty: skip)")
	flag.StringVar(&o.minioBin, "minio", "", "minio binary for the s3 phase (empty: the phase says it did not run)")
	flag.StringVar(&o.dir, "dir", os.TempDir(), "where the temporary work folder is made (the disk being measured)")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "lectern-bench-server"), "folder for report.md and the CPU profiles")
	flag.StringVar(&phases, "phases", allPhases, "comma-separated phases to run: "+allPhases)
	flag.Var(sizeFlag{&o.size}, "size", "upload and download size")
	flag.Var(sizeFlag{&o.big}, "big", "size of the peak-RSS upload and download")
	flag.Var(sizeFlag{&o.chunk}, "chunk", "PATCH size of the chunked uploads")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds (every side once per round, order rotated)")
	flag.StringVar(&small, "small", "4KiB,64KiB", "plaintext sizes of the small-file GET rate")
	flag.DurationVar(&o.smallDur, "small-duration", 5*time.Second, "wrk run length per side and round")
	flag.IntVar(&o.wrkThreads, "wrk-threads", 2, "wrk threads")
	flag.IntVar(&o.wrkConns, "wrk-connections", 16, "wrk connections")
	flag.IntVar(&o.nginxWorkers, "nginx-workers", runtime.NumCPU(), "nginx worker processes (lecternd uses every core)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder")
	flag.Parse()
	if o.lecterndBin == "" {
		return o, errors.New("-lecternd is required")
	}
	if o.rounds < 1 || o.size <= 0 || o.big <= 0 || o.chunk <= 0 {
		return o, errors.New("-rounds, -size, -big and -chunk must be positive")
	}
	o.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		if p = strings.TrimSpace(p); !strings.Contains(","+allPhases+",", ","+p+",") {
			return o, fmt.Errorf("unknown phase %q (phases: %s)", p, allPhases)
		}
		o.phases[p] = true
	}
	for _, s := range strings.Split(small, ",") {
		var n int64
		if err := (sizeFlag{&n}).Set(strings.TrimSpace(s)); err != nil {
			return o, fmt.Errorf("-small: %w", err)
		}
		o.smallSizes = append(o.smallSizes, n)
	}
	return o, nil
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(o.dir, "lectern-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	e := &env{o: o, work: work, rep: &report{}}
	defer func() {
		if serr := e.rep.save(filepath.Join(o.out, "report.md")); err == nil {
			err = serr
		}
	}()
	e.rep.printf("## Run of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	e.rep.printf("- machine: %d cores (%s), Go %s; work folder %s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), work)
	e.rep.printf("- load average at start: %s (uptime: %s)\n", loadavg(), uptime())
	e.rep.printf("- command: `%s`\n", strings.Join(os.Args, " "))
	e.o.srcFile = filepath.Join(work, "src")
	if err := makeSource(e.o.srcFile, o.size, 1); err != nil {
		return err
	}
	if o.phases["upload"] || o.phases["download"] || o.phases["small"] {
		lim := fmt.Sprint(o.size + 64<<20)
		if e.lec, err = startLecternd(ctx, o.lecterndBin, work, "-max-file-size", lim,
			"-max-conference-content", fmt.Sprint(64*(o.size+64<<20))); err != nil {
			return err
		}
		defer e.lec.stop()
		if e.cl, err = newClient(e.lec.cert); err != nil {
			return err
		}
		defer e.cl.close()
	}
	if o.phases["upload"] && o.tusdBin != "" {
		p, base, err := startTusd(ctx, o.tusdBin, work, e.lec.cert, e.lec.key)
		if err != nil {
			return err
		}
		defer p.stop()
		e.tusdURL = base
	}
	if o.phases["download"] || o.phases["small"] {
		p, base, err := startNginx(ctx, o.nginxBin, work, e.lec.storeDir, e.lec.cert, e.lec.key, o.nginxWorkers)
		if err != nil {
			return err
		}
		defer p.stop()
		e.nginx, e.nginxProc = base, p
	}
	for _, ph := range []struct {
		name string
		run  func(context.Context) error
	}{{"upload", e.uploadPhase}, {"download", e.downloadPhase}, {"small", e.smallPhase},
		{"rss", e.rssPhase}, {"profile", e.profilePhase}, {"s3", e.s3Phase}} {
		if !o.phases[ph.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", ph.name)
		if err := ph.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", ph.name, err)
		}
	}
	e.rep.printf("\nload average at the end: %s\n", loadavg())
	return nil
}

func uptime() string {
	b, err := exec.Command("uptime").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
