package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/storage"
)

// env is what every phase shares.
type env struct {
	o       options
	work    string
	lec     *lecternd
	cl      *client
	rep     *report
	tusdURL string // empty: no tusd
	nginx   string // nginx base URL; empty: not started
	// nginxProc is the nginx master process.
	nginxProc *proc
}

// settle makes the next measurement start from a clean disk: everything written so
// far (tusd does not fsync; deleted files have pending discards) is flushed outside the
// clock.
func (e *env) settle() error {
	f, err := os.Open(e.work)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

type side struct {
	name string
	run  func(ctx context.Context, round int) (time.Duration, error)
}

// runRounds runs every side once per round in rotated order, settling the disk
// before each, and returns each side's durations.
func (e *env) runRounds(ctx context.Context, sides []side) (map[string][]time.Duration, error) {
	out := map[string][]time.Duration{}
	for r := range e.o.rounds {
		for _, s := range rotate(sides, r) {
			if err := e.settle(); err != nil {
				return nil, err
			}
			d, err := s.run(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("%s, round %d: %w", s.name, r+1, err)
			}
			out[s.name] = append(out[s.name], d)
			fmt.Fprintf(os.Stderr, "  round %d %-28s %8.3f s\n", r+1, s.name, d.Seconds())
		}
	}
	return out, nil
}

// measureThroughput runs the sides' rounds, reports the load after them and a table
// of each side's MB/s for moving bytes, and returns the throughputs by side.
func (e *env) measureThroughput(ctx context.Context, sides []side, bytes int64) (map[string]series, error) {
	res, err := e.runRounds(ctx, sides)
	if err != nil {
		return nil, err
	}
	e.rep.printf("load after: %s\n\n", loadavg())
	tp := map[string]series{}
	e.rep.printf("| side | MB/s, median (min–max) of %d rounds |\n|---|---|\n", e.o.rounds)
	for _, s := range sides {
		tp[s.name] = throughput(bytes, res[s.name])
		e.rep.printf("| %s | %s |\n", s.name, tp[s.name].cell("%.0f"))
	}
	return tp, nil
}

func throughput(bytes int64, ds []time.Duration) series {
	s := make(series, len(ds))
	for i, d := range ds {
		s[i] = mbps(bytes, d)
	}
	return s
}

// lecternUpload uploads the source to the lecternd of the disk phases.
func (e *env) lecternUpload(chunk int64, last *[]time.Duration) func(context.Context, int) (time.Duration, error) {
	return e.lecternUploadTo(e.lec, e.cl, chunk, last)
}

// lecternUploadTo uploads the source to lec in a conference of its own, which is
// deleted afterwards (outside the clock) with everything stored in it.
func (e *env) lecternUploadTo(lec *lecternd, cl *client, chunk int64, last *[]time.Duration) func(context.Context, int) (time.Duration, error) {
	n := 0
	return func(ctx context.Context, round int) (time.Duration, error) {
		n++
		conf := fmt.Sprintf("up-%d-%d", chunk>>20, n)
		tok, err := cl.setupConference(ctx, lec.base, lec.admin, conf)
		if err != nil {
			return 0, err
		}
		res, err := cl.tusUpload(ctx, lec.base+"/v1/conferences/"+conf+"/uploads", tok, e.o.srcFile, chunk)
		if err != nil {
			return 0, err
		}
		if res.url == "" || res.key == "" {
			return 0, fmt.Errorf("the completing PATCH carried no Lectern-Content-Url/Key")
		}
		if last != nil {
			*last = append(*last, res.last)
		}
		return res.elapsed, cl.jsonCall(ctx, http.MethodDelete, lec.base+"/v1/conferences/"+conf, lec.admin, nil, nil)
	}
}

func (e *env) tusdUpload(chunk int64) func(context.Context, int) (time.Duration, error) {
	return func(ctx context.Context, round int) (time.Duration, error) {
		res, err := e.cl.tusUpload(ctx, e.tusdURL+"/files/", "", e.o.srcFile, chunk)
		if err != nil {
			return 0, err
		}
		return res.elapsed, removeAll(filepath.Join(e.work, "tusd-uploads"))
	}
}

// uploadPhase: measurement 1 (against the raw disk and, for context, the smallest
// durable HTTPS upload server) and 4 (against tusd).
func (e *env) uploadPhase(ctx context.Context) error {
	rawDir := filepath.Join(e.work, "raw")
	if err := os.MkdirAll(rawDir, 0o700); err != nil {
		return err
	}
	d, err := disk.New(filepath.Join(e.work, "raw-bucket"))
	if err != nil {
		return err
	}
	bucket := storage.NewBucket(d)
	defer bucket.Close()
	sk, err := startSink(e.lec.cert, e.lec.key, filepath.Join(rawDir, "minimal"), "")
	if err != nil {
		return err
	}
	defer sk.close()
	chunk := e.o.chunk
	const (
		copyName = "file copy + fsync"
		putName  = "disk backend Put"
	)
	var (
		variants = []int64{0, chunk}
		vname    = map[int64]string{0: "1 PATCH", chunk: human(chunk) + " PATCHes"}
		last     []time.Duration
	)
	lec := func(c int64) string { return "lecternd, " + vname[c] }
	minimal := func(c int64) string { return "minimal HTTPS server, " + vname[c] }
	tusd := func(c int64) string { return "tusd, " + vname[c] }
	sides := []side{
		{copyName, func(ctx context.Context, r int) (time.Duration, error) {
			dst := filepath.Join(rawDir, "copy")
			dur, err := rawFileCopy(e.o.srcFile, dst)
			if err == nil {
				err = os.Remove(dst)
			}
			return dur, err
		}},
		{putName, func(ctx context.Context, r int) (time.Duration, error) {
			dur, err := backendPut(ctx, bucket, "raw/object", e.o.srcFile)
			if err == nil {
				err = bucket.Delete(ctx, "raw/object")
			}
			return dur, err
		}},
		{lec(0), e.lecternUpload(0, nil)},
		{lec(chunk), e.lecternUpload(chunk, &last)},
	}
	for _, c := range variants {
		sides = append(sides, side{minimal(c), func(ctx context.Context, r int) (time.Duration, error) {
			res, err := e.cl.tusUpload(ctx, sk.base+"/file/", "", e.o.srcFile, c)
			if err == nil {
				err = os.Remove(sk.file)
			}
			return res.elapsed, err
		}})
	}
	if e.tusdURL != "" {
		for _, c := range variants {
			sides = append(sides, side{tusd(c), e.tusdUpload(c)})
		}
	}
	e.rep.printf("\n### 1. Upload of %s (load before: %s)\n\n", human(e.o.size), loadavg())
	tp, err := e.measureThroughput(ctx, sides, e.o.size)
	if err != nil {
		return err
	}
	lastS := make(series, len(last))
	for i, d := range last {
		lastS[i] = d.Seconds()
	}
	e.rep.printf("\nThe completing %s PATCH of lecternd (appends its segments and the final one to part 0, which it renames into the content file) took %s s.\n\n",
		human(chunk), lastS.cell("%.2f"))
	row := func(a, b string, target float64) {
		e.rep.ratioRow(a+" vs "+b, tp[a].cell("%.0f"), tp[b].cell("%.0f"), ratios(tp[a], tp[b]), target)
	}
	e.rep.printf("| measurement | Lectern MB/s | reference MB/s | ratio, median (min–max) | target | met? |\n|---|---|---|---|---|---|\n")
	for _, c := range variants {
		row(lec(c), copyName, 0.9)
	}
	for _, c := range variants {
		row(lec(c), putName, 0.9)
	}
	for _, c := range variants {
		row(lec(c), minimal(c), 0)
	}
	for _, c := range variants {
		row(minimal(c), copyName, 0)
	}
	if e.tusdURL != "" {
		e.rep.printf("\n### 4. Upload against tusd v2.8.0 (its file store, same disk, same client, same file)\n\n")
		e.rep.printf("| measurement | Lectern MB/s | tusd MB/s | ratio, median (min–max) | target | met? |\n|---|---|---|---|---|---|\n")
		for _, c := range variants {
			row(lec(c), tusd(c), 0)
		}
		for _, c := range variants {
			row(tusd(c), copyName, 0)
		}
	}
	return nil
}
