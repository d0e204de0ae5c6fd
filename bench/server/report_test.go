package main

import (
	"slices"
	"strings"
	"testing"
)

// These check the arithmetic and parsing the report relies on; the benchmark itself
// runs only through bench/server.sh.

func TestSeriesMedianAndRatios(t *testing.T) {
	tests := []struct {
		name   string
		s      series
		median float64
		lo, hi float64
	}{
		{"odd", series{3, 1, 2}, 2, 1, 3},
		{"even", series{4, 1, 3, 2}, 2.5, 1, 4},
		{"one", series{7}, 7, 7, 7},
		{"empty", nil, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.median(); got != tt.median {
				t.Errorf("median = %v, want %v", got, tt.median)
			}
			if lo, hi := tt.s.spread(); lo != tt.lo || hi != tt.hi {
				t.Errorf("spread = %v–%v, want %v–%v", lo, hi, tt.lo, tt.hi)
			}
		})
	}
	// Ratios pair rounds, never sorted values, and skip a zero reference.
	if got := ratios(series{10, 30, 5}, series{20, 10, 0}); !slices.Equal(got, series{0.5, 3}) {
		t.Errorf("ratios = %v", got)
	}
}

func TestRotate(t *testing.T) {
	s := []string{"a", "b", "c"}
	for r, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := rotate(s, r); !slices.Equal(got, want) {
			t.Errorf("rotate(%d) = %v, want %v", r, got, want)
		}
	}
}

func TestSummarizeStrace(t *testing.T) {
	table := `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.000600           3       200           write
 30.00    0.000300           3       100        10 openat
 10.00    0.000100          50         2           futex
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           3       302        10 total
`
	got, err := summarizeStrace(table, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**3.0** per request over 100 requests", "write 2.00", "openat 1.00"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "futex") {
		t.Errorf("summary %q lists a call under 0.05 per request", got)
	}
	if _, err := summarizeStrace("no table", 100); err == nil {
		t.Error("a table without totals was accepted")
	}
	if _, err := summarizeStrace(table, 0); err == nil {
		t.Error("zero requests were accepted")
	}
}

func TestClass(t *testing.T) {
	tests := map[string]string{
		"uploads/conf/0123/part-0000000000": "uploads:part",
		"uploads/conf/0123/tail":            "uploads:tail",
		"content/org/conf/x01.ebin":         "content",
		"meta/org/conf/conference.xml":      "meta",
	}
	for key, want := range tests {
		if got := class(key); got != want {
			t.Errorf("class(%q) = %q, want %q", key, got, want)
		}
	}
}
