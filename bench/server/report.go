package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// series is one side's measurements, one per round.
type series []float64

func (s series) median() float64 {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func (s series) spread() (lo, hi float64) {
	if len(s) == 0 {
		return 0, 0
	}
	return slices.Min(s), slices.Max(s)
}

// cell formats "median (min–max)".
func (s series) cell(format string) string {
	lo, hi := s.spread()
	return fmt.Sprintf(format+" ("+format+"–"+format+")", s.median(), lo, hi)
}

// ratios divides a by b round by round (both measured in the same round).
func ratios(a, b series) series {
	out := make(series, 0, len(a))
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

// report collects the markdown written to stdout and to <out>/report.md.
type report struct {
	b strings.Builder
}

func (r *report) printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.b.WriteString(s)
	fmt.Print(s)
}

// ratioRow prints a table row: what, lectern, reference, ratio, target, met.
func (r *report) ratioRow(what, lectern, ref string, ratio series, target float64) {
	if target <= 0 { // context only: no target of its own
		r.printf("| %s | %s | %s | **%s** | — | — |\n", what, lectern, ref, ratio.cell("%.2f"))
		return
	}
	met := "no"
	if ratio.median() >= target {
		met = "yes"
	}
	r.printf("| %s | %s | %s | **%s** | ≥ %.2f | %s |\n", what, lectern, ref, ratio.cell("%.2f"), target, met)
}

func (r *report) save(path string) error { return os.WriteFile(path, []byte(r.b.String()), 0o644) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// rotate returns the sides in the order of round r: each round starts one side later,
// so that no side always runs first (fresh page cache, idle disk) or last.
func rotate[T any](sides []T, r int) []T {
	k := r % len(sides)
	return append(slices.Clone(sides[k:]), sides[:k]...)
}
