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

// profilePhase explains where an upload's time goes: the server lecternd assembles,
// in this process (inproc), one 256 MiB upload per PATCH size under a CPU profile,
// with the backend's own time per kind of object, and a file copy in the same run.
// The profiles (which include this program's client side: its TLS encryption is the
// same work for every server) are written to the output folder for go tool pprof.
func (e *env) profilePhase(ctx context.Context) error {
	dir := filepath.Join(e.work, "inproc")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p, err := startInproc(ctx, dir, e.o.size+64<<20)
	if err != nil {
		return err
	}
	defer p.close()
	cl, err := newClient(p.cert)
	if err != nil {
		return err
	}
	defer cl.close()
	e.rep.printf("\n### Profile: where an upload's time goes (in-process server, load before: %s)\n\n", loadavg())
	if err := e.settle(); err != nil {
		return err
	}
	raw, err := rawFileCopy(e.o.srcFile, filepath.Join(dir, "copy"))
	if err != nil {
		return err
	}
	e.rep.printf("File copy + fsync of the same %s in this run: %.2f s (%.0f MB/s).\n\n", human(e.o.size), raw.Seconds(), mbps(e.o.size, raw))
	var contentURL, tok string
	for _, chunk := range []int64{e.o.chunk, 0} {
		name := "1 PATCH"
		file := "upload-1patch.pprof"
		if chunk > 0 {
			name, file = human(chunk)+" PATCHes", "upload-"+strings.ReplaceAll(human(chunk), " ", "")+".pprof"
		}
		conf := fmt.Sprintf("prof-%d", chunk>>20)
		if tok, err = cl.setupConference(ctx, p.base, p.admin, conf); err != nil {
			return err
		}
		if err := e.settle(); err != nil {
			return err
		}
		p.timing.reset()
		var res uploadResult
		err := e.profiled(file, func() error {
			var err error
			res, err = cl.tusUpload(ctx, p.base+"/v1/conferences/"+conf+"/uploads", tok, e.o.srcFile, chunk)
			return err
		})
		if err != nil {
			return err
		}
		contentURL = res.url
		e.rep.printf("**Upload in %s**: %.2f s (%.0f MB/s, %.2f of the file copy); the completing PATCH %.2f s. CPU profile: `%s`.\n\n",
			name, res.elapsed.Seconds(), mbps(e.o.size, res.elapsed), raw.Seconds()/res.elapsed.Seconds(), res.last.Seconds(),
			filepath.Join(e.o.out, file))
		e.rep.printf("%s\n", p.timing.report())
	}
	p.timing.reset()
	var dl time.Duration
	if err := e.profiled("download.pprof", func() error {
		size, err := fileSize(filepath.Join(dir, "store", filepath.FromSlash(strings.TrimPrefix(contentURL, "/v1/"))))
		if err == nil {
			dl, err = cl.download(ctx, p.base+contentURL, tok, size)
		}
		return err
	}); err != nil {
		return err
	}
	e.rep.printf("**Download** of the last upload: %.2f s (%.0f MB/s). CPU profile: `%s`.\n\n%s\nload after: %s\n",
		dl.Seconds(), mbps(e.o.size, dl), filepath.Join(e.o.out, "download.pprof"), p.timing.report(), loadavg())
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
