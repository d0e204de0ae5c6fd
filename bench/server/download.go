package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// stored is one content file in lecternd: its URL path and its file in the store.
type stored struct {
	path string // /v1/content/<org>/<conf>/<name>
	file string // <store>/content/<org>/<conf>/<name>
	size int64  // ciphertext bytes
	tok  string
}

// storeContent uploads src into conference conf (created if needed) and checks that
// lecternd and nginx serve byte for byte the file in the store.
func (e *env) storeContent(ctx context.Context, conf, tok, src string) (stored, error) {
	res, err := e.cl.tusUpload(ctx, e.lec.base+"/v1/conferences/"+conf+"/uploads", tok, src, e.o.chunk)
	if err != nil {
		return stored{}, err
	}
	rel, ok := strings.CutPrefix(res.url, "/v1/")
	if !ok {
		return stored{}, fmt.Errorf("unexpected content URL %q", res.url)
	}
	s := stored{path: res.url, file: filepath.Join(e.lec.storeDir, filepath.FromSlash(rel)), tok: tok}
	st, err := os.Stat(s.file)
	if err != nil {
		return stored{}, fmt.Errorf("the content is not where nginx looks: %w", err)
	}
	s.size = st.Size()
	want, err := fileSHA256(s.file)
	if err != nil {
		return stored{}, err
	}
	for _, base := range []string{e.lec.base, e.nginx} {
		h, err := e.cl.digest(ctx, base+s.path, tok)
		if err != nil {
			return stored{}, err
		}
		if h != want {
			return stored{}, fmt.Errorf("%s serves other bytes than the stored file", base)
		}
	}
	return s, nil
}

// downloadPhase: measurement 2, the large file.
func (e *env) downloadPhase(ctx context.Context) error {
	tok, err := e.cl.setupConference(ctx, e.lec.base, e.lec.admin, "dl")
	if err != nil {
		return err
	}
	s, err := e.storeContent(ctx, "dl", tok, e.o.srcFile)
	if err != nil {
		return err
	}
	sides := []side{
		{"lecternd GET", func(ctx context.Context, _ int) (time.Duration, error) {
			return e.cl.download(ctx, e.lec.base+s.path, tok, s.size)
		}},
		{"nginx GET", func(ctx context.Context, _ int) (time.Duration, error) {
			return e.cl.download(ctx, e.nginx+s.path, tok, s.size)
		}},
		{"read of the stored file", func(ctx context.Context, _ int) (time.Duration, error) { return rawRead(s.file) }},
	}
	e.rep.printf("\n### 2a. Download of the %s ciphertext of a %s upload (load before: %s)\n\n", human(s.size), human(e.o.size), loadavg())
	tp, err := e.measureThroughput(ctx, sides, s.size)
	if err != nil {
		return err
	}
	e.rep.printf("\n| measurement | Lectern MB/s | reference MB/s | ratio, median (min–max) | target | met? |\n|---|---|---|---|---|---|\n")
	e.rep.ratioRow("lecternd GET vs nginx GET (HTTPS, same file)", tp["lecternd GET"].cell("%.0f"), tp["nginx GET"].cell("%.0f"),
		ratios(tp["lecternd GET"], tp["nginx GET"]), 0.9)
	e.rep.ratioRow("lecternd GET vs read of the stored file (page cache, no network, no TLS)", tp["lecternd GET"].cell("%.0f"),
		tp["read of the stored file"].cell("%.0f"), ratios(tp["lecternd GET"], tp["read of the stored file"]), 0)
	return nil
}

// smallPhase: measurement 2, GET rate of small files with wrk.
func (e *env) smallPhase(ctx context.Context) error {
	tok, err := e.cl.setupConference(ctx, e.lec.base, e.lec.admin, "small")
	if err != nil {
		return err
	}
	e.rep.printf("\n### 2b. Small-file GET rate (wrk -t%d -c%d -d%s, keep-alive, HTTPS; load before: %s)\n\n",
		e.o.wrkThreads, e.o.wrkConns, e.o.smallDur, loadavg())
	sk, err := startSink(e.lec.cert, e.lec.key, filepath.Join(e.work, "small-sink-unused"), filepath.Join(e.lec.storeDir, "content"))
	if err != nil {
		return err
	}
	defer sk.close()
	var syscalls []string
	var floorRows []func()
	e.rep.printf("| measurement | Lectern req/s | nginx req/s | ratio, median (min–max) | target | met? |\n|---|---|---|---|---|---|\n")
	for _, size := range e.o.smallSizes {
		src := filepath.Join(e.work, fmt.Sprintf("small-%d", size))
		if err := makeSource(src, size, byte(size)); err != nil {
			return err
		}
		s, err := e.storeContent(ctx, "small", tok, src)
		if err != nil {
			return err
		}
		rate := map[string]series{}
		servers := []string{"lecternd", "nginx", goFloor}
		urls := map[string]string{"lecternd": e.lec.base + s.path, "nginx": e.nginx + s.path, goFloor: sk.base + s.path}
		for _, srv := range servers { // warm-up: connections, page cache, lazy init
			if _, err := e.wrk(ctx, urls[srv], tok, time.Second); err != nil {
				return err
			}
		}
		for r := range e.o.rounds {
			for _, srv := range rotate(servers, r) {
				rps, err := e.wrk(ctx, urls[srv], tok, e.o.smallDur)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", srv, human(size), err)
				}
				fmt.Fprintf(os.Stderr, "  round %d %s %-8s %10.0f req/s\n", r+1, human(size), srv, rps)
				rate[srv] = append(rate[srv], rps)
			}
		}
		e.rep.ratioRow(fmt.Sprintf("GET of a %s file (%d B ciphertext)", human(size), s.size),
			rate["lecternd"].cell("%.0f"), rate["nginx"].cell("%.0f"), ratios(rate["lecternd"], rate["nginx"]), 0.8)
		what := fmt.Sprintf("%s file", human(size))
		floorRows = append(floorRows, func() {
			e.rep.printf("| %s | %s | %s | %s | **%s** | **%s** |\n", what, rate["lecternd"].cell("%.0f"), rate[goFloor].cell("%.0f"),
				rate["nginx"].cell("%.0f"), ratios(rate["lecternd"], rate[goFloor]).cell("%.2f"), ratios(rate[goFloor], rate["nginx"]).cell("%.2f"))
		})
		if e.o.straceBin != "" {
			workers, err := childPIDs(e.nginxProc.pid())
			if err != nil {
				return err
			}
			pids := map[string][]int{"lecternd": {e.lec.pid()}, "nginx": append([]int{e.nginxProc.pid()}, workers...)}
			for _, srv := range []string{"lecternd", "nginx"} {
				sum, err := e.syscallsPerRequest(ctx, srv, urls[srv], tok, pids[srv])
				if err != nil {
					return fmt.Errorf("strace of %s: %w", srv, err)
				}
				syscalls = append(syscalls, fmt.Sprintf("- %s, %s file: %s", srv, human(size), sum))
			}
		}
	}
	e.rep.printf("\nThe same rounds with the plainest Go HTTPS file server (%s: net/http FileServer, same certificate, same folder as nginx; context, no target):\n\n", goFloor)
	e.rep.printf("| file | lecternd req/s | Go file server req/s | nginx req/s | lecternd / Go file server | Go file server / nginx |\n|---|---|---|---|---|---|\n")
	for _, row := range floorRows {
		row()
	}
	if len(syscalls) > 0 {
		e.rep.printf("\nSystem calls per small GET (strace -c -f on the server's threads and workers during a 3 s wrk run; strace slows the servers, so only the counts are meaningful):\n\n%s\n", strings.Join(syscalls, "\n"))
	}
	e.rep.printf("\nload after: %s\n", loadavg())
	return nil
}

// goFloor names the Go file-server side of the small-GET phase.
const goFloor = "go-fileserver"

var (
	wrkRate   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkErrors = regexp.MustCompile(`(Non-2xx or 3xx responses|Socket errors):.*`)
)

// wrk runs wrk against url and returns requests per second; any non-2xx answer or
// socket error fails the run.
func (e *env) wrk(ctx context.Context, url, tok string, d time.Duration) (float64, error) {
	out, err := e.runWrk(ctx, url, tok, d)
	if err != nil {
		return 0, err
	}
	m := wrkRate.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk printed no rate: %s", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

func (e *env) runWrk(ctx context.Context, url, tok string, d time.Duration) (string, error) {
	cmd := exec.CommandContext(ctx, e.o.wrkBin, "-t", strconv.Itoa(e.o.wrkThreads), "-c", strconv.Itoa(e.o.wrkConns),
		"-d", fmt.Sprintf("%ds", max(1, int(d.Seconds()))), "-H", "Authorization: Bearer "+tok, url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("wrk: %w: %s", err, out.String())
	}
	if m := wrkErrors.FindString(out.String()); m != "" {
		return "", fmt.Errorf("wrk: %s", m)
	}
	return out.String(), nil
}
