package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// profilePhase explains where an upload's time goes. The server lecternd assembles
// runs in this process (inproc, its backend timed per kind of object), next to:
//   - the same server with the direct path raised to the whole file (stream's
//     DirectMax: one streamed write into the content file instead of parts + join),
//   - sink: an HTTPS tus endpoint that discards the bytes (the transport ceiling),
//     and the smallest durable one (body → file → fsync),
//   - the file copy with fsync (the raw write).
//
// Each runs once per round (rotated); round 1 is CPU-profiled (the profiles include
// this program's client side; the server's samples carry the label side=server).
func (e *env) profilePhase(ctx context.Context) error {
	dir := filepath.Join(e.work, "inproc")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certFile, keyFile, err := selfSigned(dir)
	if err != nil {
		return err
	}
	maxFile := e.o.size + 64<<20
	p, err := startInproc(ctx, filepath.Join(dir, "parts"), certFile, keyFile, maxFile, 0)
	if err != nil {
		return err
	}
	defer p.close()
	direct, err := startInproc(ctx, filepath.Join(dir, "direct"), certFile, keyFile, maxFile, maxFile)
	if err != nil {
		return err
	}
	defer direct.close()
	sk, err := startSink(certFile, keyFile, filepath.Join(dir, "sink-file"), "")
	if err != nil {
		return err
	}
	defer sk.close()
	cl, err := newClient(certFile)
	if err != nil {
		return err
	}
	defer cl.close()

	storageTables := map[string]string{}
	var last series
	var contentURL, tok string
	upload := func(srv *inproc, name, profile string, chunk int64) side {
		n := 0
		return side{name, func(ctx context.Context, round int) (time.Duration, error) {
			n++
			conf := fmt.Sprintf("prof-%d-%d", chunk>>20, n)
			t, err := cl.setupConference(ctx, srv.base, srv.admin, conf)
			if err != nil {
				return 0, err
			}
			srv.timing.reset()
			var res uploadResult
			op := func() error {
				res, err = cl.tusUpload(ctx, srv.base+"/v1/conferences/"+conf+"/uploads", t, e.o.srcFile, chunk)
				return err
			}
			if round == 0 {
				err = e.profiled(profile, op)
			} else {
				err = op()
			}
			if err != nil {
				return 0, err
			}
			if round == 0 {
				storageTables[name] = srv.timing.report()
			}
			if chunk > 0 {
				last = append(last, res.last.Seconds())
			}
			if srv == p {
				contentURL, tok = res.url, t
			}
			return res.elapsed, nil
		}}
	}
	chunked := fmt.Sprintf("lectern, %s PATCHes", human(e.o.chunk))
	const minimal = "HTTPS → file + fsync (minimal server)"
	sides := []side{
		{"file copy + fsync", func(ctx context.Context, _ int) (time.Duration, error) {
			dst := filepath.Join(dir, "copy")
			d, err := rawFileCopy(e.o.srcFile, dst)
			if err == nil {
				err = os.Remove(dst)
			}
			return d, err
		}},
		{"HTTPS sink (discards)", func(ctx context.Context, _ int) (time.Duration, error) {
			res, err := cl.tusUpload(ctx, sk.base+"/sink/", "", e.o.srcFile, 0)
			return res.elapsed, err
		}},
		{minimal, func(ctx context.Context, _ int) (time.Duration, error) {
			res, err := cl.tusUpload(ctx, sk.base+"/file/", "", e.o.srcFile, 0)
			if err == nil {
				err = os.Remove(sk.file)
			}
			return res.elapsed, err
		}},
		upload(p, chunked, "upload-chunked.pprof", e.o.chunk),
		upload(p, "lectern, 1 PATCH", "upload-1patch.pprof", 0),
		upload(direct, "lectern, 1 PATCH, direct path", "upload-direct.pprof", 0),
	}
	e.rep.printf("\n### Profile: where an upload's time goes (the same server in-process; load before: %s)\n\n", loadavg())
	res, err := e.runRounds(ctx, sides)
	if err != nil {
		return err
	}
	e.rep.printf("load after: %s\n\n", loadavg())
	tp := map[string]series{}
	e.rep.printf("| side | MB/s, median (min–max) | ratio to the file copy | ratio to the minimal server |\n|---|---|---|---|\n")
	for _, s := range sides {
		tp[s.name] = throughput(e.o.size, res[s.name])
	}
	for _, s := range sides {
		e.rep.printf("| %s | %s | %s | %s |\n", s.name, tp[s.name].cell("%.0f"), ratios(tp[s.name], tp["file copy + fsync"]).cell("%.2f"),
			ratios(tp[s.name], tp[minimal]).cell("%.2f"))
	}
	e.rep.printf("\nThe completing PATCH of the %s took %s s.\n\n", chunked, last.cell("%.2f"))
	e.rep.printf("Time spent in the storage backend (round 1; puts exclude waiting for their source, gets include reading the body):\n\n")
	for _, s := range sides[3:] {
		e.rep.printf("**%s** (CPU profile %s):\n\n%s\n", s.name, filepath.Join(e.o.out, map[string]string{
			chunked: "upload-chunked.pprof", "lectern, 1 PATCH": "upload-1patch.pprof",
			"lectern, 1 PATCH, direct path": "upload-direct.pprof"}[s.name]), storageTables[s.name])
	}

	var dl time.Duration
	if err := e.profiled("download.pprof", func() error {
		size, err := fileSize(filepath.Join(dir, "parts", "store", filepath.FromSlash(strings.TrimPrefix(contentURL, "/v1/"))))
		if err == nil {
			dl, err = cl.download(ctx, p.base+contentURL, tok, size)
		}
		return err
	}); err != nil {
		return err
	}
	e.rep.printf("**Download** of a stored upload: %.2f s (%.0f MB/s). CPU profile: `%s`.\n\n",
		dl.Seconds(), mbps(e.o.size, dl), filepath.Join(e.o.out, "download.pprof"))
	if len(e.o.smallSizes) > 0 {
		src := filepath.Join(dir, "small")
		if err := makeSource(src, e.o.smallSizes[0], 3); err != nil {
			return err
		}
		conf := "prof-small"
		t, err := cl.setupConference(ctx, p.base, p.admin, conf)
		if err != nil {
			return err
		}
		res, err := cl.tusUpload(ctx, p.base+"/v1/conferences/"+conf+"/uploads", t, src, 0)
		if err != nil {
			return err
		}
		var rps float64
		if err := e.profiled("small-get.pprof", func() error {
			rps, err = e.wrk(ctx, p.base+res.url, t, e.o.smallDur)
			return err
		}); err != nil {
			return err
		}
		e.rep.printf("**Small GETs** of a %s file with wrk (%s): %.0f req/s. CPU profile: `%s`.\n\n",
			human(e.o.smallSizes[0]), e.o.smallDur, rps, filepath.Join(e.o.out, "small-get.pprof"))
	}
	e.rep.printf("load after: %s\n", loadavg())
	return nil
}

// profiled runs op under the CPU profiler, writing the profile to <out>/file.
func (e *env) profiled(file string, op func() error) error {
	f, err := os.Create(filepath.Join(e.o.out, file))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = op()
	pprof.StopCPUProfile()
	return err
}
