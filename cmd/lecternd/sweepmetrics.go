package main

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lectern/lectern/core/conference"
)

// sweepMetrics count the retention sweep's runs and what they removed, so that an
// operator can alert on a sweep that keeps failing (storage keeps growing) without
// reading logs. A nil *sweepMetrics counts nothing.
type sweepMetrics struct {
	runs        *prometheus.CounterVec
	removed     *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

// sweepResults and sweepKinds are every label value, set to 0 at start so that the
// series exist (and alerts on them work) before the first sweep.
var (
	sweepResults = []string{"ok", "failed", "skipped"}
	sweepKinds   = []string{"conferences", "unfinished_conferences", "orphans", "uploads", "leftovers"}
)

func newSweepMetrics(reg prometheus.Registerer) (*sweepMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &sweepMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_sweep_runs_total",
			Help: "Retention sweeps by result: ok, failed, or skipped (another server held the clean-up lease).",
		}, []string{"result"}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_sweep_removed_total",
			Help: "What retention sweeps removed: expired conferences, conferences left half created or half deleted, orphaned content files, stale upload parts, leftovers of dead writes.",
		}, []string{"kind"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lectern_sweep_last_success_timestamp_seconds",
			Help: "Unix time at which the last retention sweep finished without error (0: none yet).",
		}),
	}
	for _, c := range []prometheus.Collector{m.runs, m.removed, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range sweepResults {
		m.runs.WithLabelValues(r)
	}
	for _, k := range sweepKinds {
		m.removed.WithLabelValues(k)
	}
	return m, nil
}

// observe counts one sweep. A sweep cut by shutdown is not a failure.
func (m *sweepMetrics) observe(rep conference.SweepReport, err error) {
	if m == nil || errors.Is(err, context.Canceled) {
		return
	}
	m.removed.WithLabelValues("conferences").Add(float64(len(rep.ConferencesRemoved)))
	m.removed.WithLabelValues("unfinished_conferences").Add(float64(len(rep.UnfinishedRemoved)))
	m.removed.WithLabelValues("orphans").Add(float64(rep.OrphansRemoved))
	m.removed.WithLabelValues("uploads").Add(float64(rep.UploadsRemoved))
	m.removed.WithLabelValues("leftovers").Add(float64(rep.LeftoversRemoved))
	switch {
	case err != nil:
		m.runs.WithLabelValues("failed").Inc()
	case rep.Skipped:
		m.runs.WithLabelValues("skipped").Inc()
	default:
		m.runs.WithLabelValues("ok").Inc()
		m.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
	}
}
