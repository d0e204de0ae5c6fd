package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lectern/lectern/core/storage"
)

// metrics are the server's Prometheus collectors. Labels are route templates (never
// raw paths, which would carry ids and explode the series count).
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	bytesServed   *prometheus.CounterVec
	storageErrors *prometheus.CounterVec
	inFlight      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, withProcess bool) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_http_requests_total",
			Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lectern_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route template and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route", "status"}),
		bytesServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_http_response_bytes_total",
			Help: "Response body bytes written, by route template.",
		}, []string{"route"}),
		storageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_storage_errors_total",
			Help: "Storage errors seen by the HTTP tier, by category.",
		}, []string{"category"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lectern_http_requests_in_flight",
			Help: "Requests being served.",
		}),
	}
	cs := []prometheus.Collector{m.requests, m.duration, m.bytesServed, m.storageErrors, m.inFlight}
	if withProcess {
		cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(method, route string, status int, d time.Duration, bytes int) {
	if !knownMethods[method] {
		// The method is the client's free text: unbounded label values would be
		// series kept forever, a memory leak anyone could drive.
		method = "other"
	}
	st := strconv.Itoa(status)
	m.requests.WithLabelValues(method, route, st).Inc()
	m.duration.WithLabelValues(method, route, st).Observe(d.Seconds())
	if bytes > 0 {
		m.bytesServed.WithLabelValues(route).Add(float64(bytes))
	}
}

// knownMethods are the methods counted under their own name.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

// storageCategory names the storage error categories as metric label values.
var storageCategory = map[error]string{
	storage.ErrNotFound:        "not_found",
	storage.ErrPrecondition:    "precondition",
	storage.ErrInvalidArgument: "invalid_argument",
	storage.ErrInvalidRange:    "invalid_range",
	storage.ErrUnavailable:     "unavailable",
	storage.ErrPermission:      "permission",
	storage.ErrUnsupported:     "unsupported",
	storage.ErrClosed:          "closed",
}

// observeStorageError counts err if it is a classified storage error.
func (m *metrics) observeStorageError(err error) {
	if m == nil {
		return
	}
	if k := storage.KindOf(err); k != nil {
		m.storageErrors.WithLabelValues(storageCategory[k]).Inc()
	}
}
