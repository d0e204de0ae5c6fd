package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// rssPhase: measurement 3. A fresh lecternd (its own data folder) so that earlier
// phases leave nothing in its heap; its peak RSS is taken per operation (VmHWM reset
// before each) and by sampling VmRSS every 50 ms.
func (e *env) rssPhase(ctx context.Context) error {
	dir := filepath.Join(e.work, "rss")
	big := filepath.Join(e.work, "src-big")
	if err := makeSource(big, e.o.big, 2); err != nil {
		return err
	}
	lim := fmt.Sprint(e.o.big + 64<<20)
	l, err := startLecternd(ctx, e.o.lecterndBin, dir, "-max-file-size", lim, "-max-conference-content", fmt.Sprint(8*(e.o.big+64<<20)))
	if err != nil {
		return err
	}
	defer l.stop()
	cl, err := newClient(l.cert)
	if err != nil {
		return err
	}
	defer cl.close()
	tok, err := cl.setupConference(ctx, l.base, l.admin, "rss")
	if err != nil {
		return err
	}
	startKB, _ := procStatusKB(l.pid(), "VmRSS")
	e.rep.printf("\n### 3. Peak RSS of lecternd (pid %d; load before: %s)\n\n", l.pid(), loadavg())
	e.rep.printf("VmRSS after start and conference creation: %.1f MiB.\n\n", float64(startKB)/1024)
	e.rep.printf("| operation | seconds | peak RSS (VmHWM) | max sampled VmRSS (50 ms) | samples | target | met? |\n|---|---|---|---|---|---|---|\n")
	var url string
	var size int64
	measure := func(what string, op func() error) error {
		if err := e.settle(); err != nil {
			return err
		}
		if err := resetPeak(l.pid()); err != nil {
			return fmt.Errorf("resetting the peak RSS: %w", err)
		}
		smp := sampleRSS(l.pid(), 50*time.Millisecond)
		t0 := time.Now()
		err := op()
		el := time.Since(t0)
		maxKB, n := smp.done()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		hwm, err := procStatusKB(l.pid(), "VmHWM")
		if err != nil {
			return err
		}
		met := "no"
		if hwm < 100<<10 && maxKB < 100<<10 {
			met = "yes"
		}
		e.rep.printf("| %s | %.1f | **%.1f MiB** | %.1f MiB | %d | < 100 MiB | %s |\n", what, el.Seconds(),
			float64(hwm)/1024, float64(maxKB)/1024, n, met)
		return nil
	}
	for _, chunk := range []int64{e.o.chunk, 0} {
		what := fmt.Sprintf("upload of %s, one PATCH", human(e.o.big))
		if chunk > 0 {
			what = fmt.Sprintf("upload of %s, %s PATCHes", human(e.o.big), human(chunk))
		}
		if err := measure(what, func() error {
			res, err := cl.tusUpload(ctx, l.base+"/v1/conferences/rss/uploads", tok, big, chunk)
			url = res.url
			return err
		}); err != nil {
			return err
		}
	}
	rel := url[len("/v1/"):]
	if size, err = fileSize(filepath.Join(l.storeDir, filepath.FromSlash(rel))); err != nil {
		return err
	}
	if err := measure(fmt.Sprintf("download of the %s ciphertext", human(size)), func() error {
		_, err := cl.download(ctx, l.base+url, tok, size)
		return err
	}); err != nil {
		return err
	}
	e.rep.printf("\nload after: %s\n", loadavg())
	return nil
}
