package conformance

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// fakeClock is a clock only the sides move, so the runner's arithmetic is checked
// exactly, whatever the machine's speed.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// iterations makes testing.Benchmark run exactly n iterations, as -benchtime nx does.
func iterations(t *testing.T, n int) {
	t.Helper()
	f := flag.Lookup("test.benchtime")
	if f == nil {
		t.Fatal("test.benchtime flag is not registered")
	}
	old := f.Value.String()
	if err := f.Value.Set(fmt.Sprintf("%dx", n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// recordingSide is a side whose run takes durs[i] on the clock and whose cleanup takes
// an hour, logging each call.
func recordingSide(name string, c *fakeClock, durs []time.Duration, log *[]string) PairedSide {
	return PairedSide{
		Name: name,
		Run: func(b *testing.B, i int) {
			*log = append(*log, fmt.Sprintf("%s-run-%d", name, i))
			c.advance(durs[i])
		},
		Cleanup: func(b *testing.B, i int) {
			*log = append(*log, fmt.Sprintf("%s-cleanup-%d", name, i))
			c.advance(time.Hour)
		},
	}
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestRunPairedMetrics(t *testing.T) {
	for _, tc := range []struct {
		name               string
		raw, ours          []time.Duration
		rawMBs, oursMBs    float64
		ratio, medianRatio float64
	}{
		{
			// One slow iteration of ours moves the ratio of totals, not the median.
			name: "odd iterations, one burst",
			raw:  ms(10, 10, 10, 10, 10), ours: ms(20, 20, 200, 20, 20),
			rawMBs: 5 / 0.05, oursMBs: 5 / 0.28,
			ratio: 0.05 / 0.28, medianRatio: 0.5,
		},
		{
			name: "even iterations, median of the middle two",
			raw:  ms(10, 10, 10, 10), ours: ms(20, 40, 20, 40),
			rawMBs: 4 / 0.04, oursMBs: 4 / 0.12,
			ratio: 0.04 / 0.12, medianRatio: (0.25 + 0.5) / 2,
		},
		{
			name: "ours faster",
			raw:  ms(30, 30), ours: ms(10, 10),
			rawMBs: 2 / 0.06, oursMBs: 2 / 0.02,
			ratio: 3, medianRatio: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.raw)
			iterations(t, n)
			c := &fakeClock{t: time.Unix(0, 0)}
			var log []string
			res := testing.Benchmark(func(b *testing.B) {
				runPaired(b, 1e6, recordingSide("plain", c, tc.raw, &log), recordingSide("lectern", c, tc.ours, &log), c.now)
			})
			if res.N != n {
				t.Fatalf("ran %d iterations, want %d (log %v)", res.N, n, log)
			}
			// Cleanups advance the clock by an hour each: were any of them timed,
			// every figure below would be off by orders of magnitude.
			for metric, want := range map[string]float64{
				"plain-MB/s":   tc.rawMBs,
				"lectern-MB/s": tc.oursMBs,
				"ratio":        tc.ratio,
				"median-ratio": tc.medianRatio,
			} {
				got, ok := res.Extra[metric]
				if !ok {
					t.Errorf("metric %s not reported (have %v)", metric, res.Extra)
					continue
				}
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("%s = %v, want %v", metric, got, want)
				}
			}
		})
	}
}

func TestRunPairedAlternatesAndCleansUpAfterEachRun(t *testing.T) {
	iterations(t, 4)
	c := &fakeClock{t: time.Unix(0, 0)}
	var log []string
	d := ms(1, 1, 1, 1)
	testing.Benchmark(func(b *testing.B) {
		runPaired(b, 1, recordingSide("raw", c, d, &log), recordingSide("ours", c, d, &log), c.now)
	})
	want := []string{
		"raw-run-0", "raw-cleanup-0", "ours-run-0", "ours-cleanup-0",
		"ours-run-1", "ours-cleanup-1", "raw-run-1", "raw-cleanup-1",
		"raw-run-2", "raw-cleanup-2", "ours-run-2", "ours-cleanup-2",
		"ours-run-3", "ours-cleanup-3", "raw-run-3", "raw-cleanup-3",
	}
	if !slices.Equal(log, want) {
		t.Errorf("calls\n got %v\nwant %v", log, want)
	}
}

func TestRunPairedWithoutCleanup(t *testing.T) {
	iterations(t, 3)
	c := &fakeClock{t: time.Unix(0, 0)}
	side := func(name string, d time.Duration) PairedSide {
		return PairedSide{Name: name, Run: func(*testing.B, int) { c.advance(d) }}
	}
	res := testing.Benchmark(func(b *testing.B) {
		runPaired(b, 2e6, side("raw", 20*time.Millisecond), side("ours", 10*time.Millisecond), c.now)
	})
	if got := res.Extra["ratio"]; math.Abs(got-2) > 1e-9 {
		t.Errorf("ratio = %v, want 2 (metrics %v)", got, res.Extra)
	}
	if got := res.Extra["raw-MB/s"]; math.Abs(got-100) > 1e-9 {
		t.Errorf("raw-MB/s = %v, want 100", got)
	}
}

// A misuse or an operation the clock cannot see fails the benchmark instead of
// reporting a meaningless or infinite figure.
func TestRunPairedRefuses(t *testing.T) {
	c := &fakeClock{t: time.Unix(0, 0)}
	run := func(d time.Duration) func(*testing.B, int) {
		return func(*testing.B, int) { c.advance(d) }
	}
	for _, tc := range []struct {
		name      string
		raw, ours PairedSide
	}{
		{"no Run", PairedSide{Name: "raw"}, PairedSide{Name: "ours", Run: run(time.Millisecond)}},
		{"same names", PairedSide{Name: "x", Run: run(time.Millisecond)}, PairedSide{Name: "x", Run: run(time.Millisecond)}},
		{"no measurable time", PairedSide{Name: "raw", Run: run(0)}, PairedSide{Name: "ours", Run: run(time.Millisecond)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iterations(t, 2)
			res := testing.Benchmark(func(b *testing.B) {
				runPaired(b, 1, tc.raw, tc.ours, c.now)
			})
			if len(res.Extra) != 0 {
				t.Errorf("reported %v, want a failed benchmark with no metrics", res.Extra)
			}
		})
	}
}
