package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// syscallsPerRequest counts the system calls a server makes per small GET: strace
// -c follows every thread (and, for nginx, every worker) of pids while wrk runs for a
// few seconds, and the counts are divided by the requests wrk completed. strace slows
// the server down a lot; the counts per request are what it is for, not the rate.
func (e *env) syscallsPerRequest(ctx context.Context, name, url, tok string, pids []int) (string, error) {
	out := filepath.Join(e.work, "strace-"+name+".txt")
	args := []string{"-c", "-f", "-qq", "-o", out}
	for _, p := range pids {
		args = append(args, "-p", strconv.Itoa(p))
	}
	st := exec.Command(e.o.straceBin, args...)
	var stErr bytes.Buffer
	st.Stderr = &stErr
	if err := st.Start(); err != nil {
		return "", err
	}
	time.Sleep(time.Second) // attach to every thread before the load starts
	n, werr := e.wrkRequests(ctx, url, tok, 3*time.Second)
	// strace writes its table when interrupted and then ends by the same signal, so
	// its exit status says nothing; the table (checked below) does.
	_ = st.Process.Signal(syscall.SIGINT)
	_ = st.Wait()
	if werr != nil {
		return "", werr
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return "", fmt.Errorf("strace wrote no table (%w): %s", err, stErr.String())
	}
	return summarizeStrace(string(b), n)
}

// summarizeStrace turns strace -c's table into "total/request (name n/request, …)".
func summarizeStrace(table string, requests int64) (string, error) {
	if requests <= 0 {
		return "", fmt.Errorf("no requests completed under strace")
	}
	type row struct {
		name  string
		calls int64
	}
	var rows []row
	var total int64
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || strings.HasPrefix(l, "%") || strings.HasPrefix(l, "-") {
			continue
		}
		calls, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			continue
		}
		if f[len(f)-1] == "total" {
			total = calls
			continue
		}
		rows = append(rows, row{f[len(f)-1], calls})
	}
	if total == 0 {
		return "", fmt.Errorf("no totals in strace output:\n%s", table)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].calls > rows[j].calls })
	var parts []string
	for _, r := range rows {
		if per := float64(r.calls) / float64(requests); per >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.2f", r.name, per))
		}
	}
	return fmt.Sprintf("**%.1f** per request over %d requests (%s)", float64(total)/float64(requests), requests,
		strings.Join(parts, ", ")), nil
}

var wrkCount = regexp.MustCompile(`(\d+) requests in`)

// wrkRequests runs wrk and returns how many requests completed.
func (e *env) wrkRequests(ctx context.Context, url, tok string, d time.Duration) (int64, error) {
	out, err := e.runWrk(ctx, url, tok, d)
	if err != nil {
		return 0, err
	}
	m := wrkCount.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk printed no request count: %s", out)
	}
	return strconv.ParseInt(m[1], 10, 64)
}

// childPIDs lists the children of pid (nginx's workers).
func childPIDs(pid int) ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		pids = append(pids, p)
	}
	return pids, nil
}
