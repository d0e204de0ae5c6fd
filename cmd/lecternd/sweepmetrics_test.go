package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/storage"
)

// TestSweepCountsWhatItRemoves runs one sweep of a real engine over a disk store that
// holds the temporary file of a put that died two days ago, in a folder that keeps a
// key, and the index entry of a conference whose create stopped two days ago before
// its conference.xml, and checks the sweep's metrics and the files.
func TestSweepCountsWhatItRemoves(t *testing.T) {
	root := t.TempDir()
	d, err := disk.New(root)
	if err != nil {
		t.Fatal(err)
	}
	bucket := storage.NewBucket(d)
	t.Cleanup(func() { bucket.Close() })
	ctx := context.Background()
	if _, err := bucket.PutBytes(ctx, "content/kept", []byte("a key"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(root, "content", ".tmp-00000000deadbeef")
	if err := os.WriteFile(dead, []byte("half a put"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bucket.PutBytes(ctx, "index/half-created", []byte("0123456789abcdef0123456789abcdef"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	halfCreated := filepath.Join(root, "index", "half-created")
	old := time.Now().Add(-48 * time.Hour)
	for _, f := range []string{dead, halfCreated} {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := conference.New(conference.Config{Bucket: bucket, KEK: [32]byte{1}, SnapshotInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(ctx) })
	reg := prometheus.NewRegistry()
	m, err := newSweepMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{Logger: slog.New(slog.DiscardHandler)}

	sweepOnce(ctx, rt, eng, m)
	if got := testutil.ToFloat64(m.removed.WithLabelValues("leftovers")); got != 1 {
		t.Errorf("leftovers removed = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.removed.WithLabelValues("unfinished_conferences")); got != 1 {
		t.Errorf("unfinished conferences removed = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.runs.WithLabelValues("ok")); got != 1 {
		t.Errorf("ok runs = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.lastSuccess); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success at %v, want now", got)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead put's file is still there: %v", err)
	}
	if _, err := os.Stat(halfCreated); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the index entry of the stopped create is still there: %v", err)
	}

	// A failure counts as one; a sweep cut by shutdown counts as nothing.
	m.observe(conference.SweepReport{}, errors.New("storage down"))
	m.observe(conference.SweepReport{}, context.Canceled)
	m.observe(conference.SweepReport{Skipped: true}, nil)
	for result, want := range map[string]float64{"ok": 1, "failed": 1, "skipped": 1} {
		if got := testutil.ToFloat64(m.runs.WithLabelValues(result)); got != want {
			t.Errorf("%s runs = %v, want %v", result, got, want)
		}
	}
}

// TestMetricsOfEveryPart: the /metrics of a real server holds the API's metrics, the
// sweep's (at 0 before the first sweep, so that alerts can be written on them) and the
// Go and process collectors, from one registry.
func TestMetricsOfEveryPart(t *testing.T) {
	p := newInProcess(t)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, p.cfg, p.sec, p.log) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addr := waitListening(t, p.logs)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`lectern_sweep_runs_total{result="failed"} 0`,
		`lectern_sweep_removed_total{kind="leftovers"} 0`,
		`lectern_sweep_last_success_timestamp_seconds 0`,
		`lectern_http_requests_in_flight`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
