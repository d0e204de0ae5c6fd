package conformance

// The paired benchmark runner. The project's rule (SPEC section 8) is that every speed
// figure is a ratio against the raw thing measured in the same run, both sides
// alternating inside one benchmark: on a shared machine the load changes from second
// to second, so benchmarks of the two sides run one after the other can differ by 2×
// for no reason of their own. It lives here, next to the suite, so that a backend
// author outside the project can measure a backend against the raw client of its
// storage the same way Lectern's own backends are measured.

import (
	"slices"
	"testing"
	"time"
)

// PairedSide is one side of a paired benchmark.
type PairedSide struct {
	// Name prefixes the side's throughput metric, "<Name>-MB/s" (for example "os",
	// "minio-go", "lectern"). It must not contain white space.
	Name string
	// Run does the measured operation once; i counts the iterations from 0, so that a
	// side that writes can write a new object every time. Required.
	Run func(b *testing.B, i int)
	// Cleanup, when not nil, runs right after Run with the same i and is not timed:
	// deleting what a put wrote, syncing the file system, so that the next timed
	// operation does not pay for this one's leftovers.
	Cleanup func(b *testing.B, i int)
}

// RunPaired runs raw and ours once each per iteration of b.Loop, alternating which
// goes first (raw first in even iterations), and times only their Run, never their
// Cleanup. Each run moves the given number of bytes. It reports:
//
//	<raw.Name>-MB/s, <ours.Name>-MB/s  each side's throughput over the whole run
//	ratio         ours over raw (raw's total time / ours'): above 1 means ours is faster
//	median-ratio  the median of the per-iteration ratios, which a burst of load from
//	              other processes during a few iterations moves least
//
// ns/op is the time of both operations of an iteration together. The caller should
// not call b.SetBytes: its MB/s would mix both sides.
func RunPaired(b *testing.B, bytes int64, raw, ours PairedSide) {
	b.Helper()
	runPaired(b, bytes, raw, ours, time.Now)
}

// runPaired is RunPaired on a given clock, so that its arithmetic can be tested
// without depending on how fast anything runs.
func runPaired(b *testing.B, bytes int64, raw, ours PairedSide, now func() time.Time) {
	b.Helper()
	if raw.Run == nil || ours.Run == nil {
		b.Fatal("conformance: RunPaired needs Run on both sides")
	}
	if raw.Name == ours.Name {
		b.Fatalf("conformance: RunPaired sides need different names, both are %q", raw.Name)
	}
	timed := func(s PairedSide, i int) time.Duration {
		start := now()
		s.Run(b, i)
		d := now().Sub(start)
		if s.Cleanup != nil {
			b.StopTimer()
			s.Cleanup(b, i)
			b.StartTimer()
		}
		return d
	}
	var tRaw, tOurs time.Duration
	var ratios []float64
	n := 0
	for ; b.Loop(); n++ {
		i := n
		var dRaw, dOurs time.Duration
		if i%2 == 0 {
			dRaw = timed(raw, i)
			dOurs = timed(ours, i)
		} else {
			dOurs = timed(ours, i)
			dRaw = timed(raw, i)
		}
		tRaw += dRaw
		tOurs += dOurs
		// An operation too fast for the clock tells nothing about the ratio.
		if dRaw > 0 && dOurs > 0 {
			ratios = append(ratios, dRaw.Seconds()/dOurs.Seconds())
		}
	}
	if tRaw <= 0 || tOurs <= 0 || len(ratios) == 0 {
		b.Fatal("conformance: RunPaired: an operation took no measurable time; give it more bytes")
	}
	slices.Sort(ratios)
	median := ratios[len(ratios)/2]
	if len(ratios)%2 == 0 {
		median = (ratios[len(ratios)/2-1] + median) / 2
	}
	mb := float64(bytes) * float64(n) / 1e6
	b.ReportMetric(mb/tRaw.Seconds(), raw.Name+"-MB/s")
	b.ReportMetric(mb/tOurs.Seconds(), ours.Name+"-MB/s")
	b.ReportMetric(tRaw.Seconds()/tOurs.Seconds(), "ratio")
	b.ReportMetric(median, "median-ratio")
}
