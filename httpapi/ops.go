package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"

	"github.com/lectern/lectern/core/storage"
)

// readyProbeKey is a key that is never written: a Stat of it costs one metadata round
// trip, and "not found" proves the backend answered.
const readyProbeKey = "lectern-readyz-probe"

// readyProbeTTL is how long a storage probe's result answers /readyz.
const readyProbeTTL = time.Second

func (s *Server) registerOps() {
	s.engine.GET("/healthz", s.healthz)
	s.engine.HEAD("/healthz", s.healthz)
	s.engine.GET("/readyz", s.readyz)
	s.engine.HEAD("/readyz", s.readyz)
	// /metrics is unauthenticated, as Prometheus scrapers expect; it holds counts by
	// route template and status only (no ids, no paths). Block it at the proxy if the
	// listener is public.
	m := gin.WrapH(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.engine.GET("/metrics", m)
}

// healthz answers 200 as long as the process serves HTTP.
func (s *Server) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when the content backend answers a Stat in time (a result at
// most readyProbeTTL old, see readyProbe) and every registered check passes, else 503
// with Retry-After.
func (s *Server) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.draining.Load() {
		Fail(c, Errorf(CodeUnavailable, "the server is shutting down"))
		return
	}
	if err := s.probeStorage(c.Request.Context()); err != nil {
		Fail(c, err)
		return
	}
	s.mu.Lock()
	checks := append([]ReadyCheck(nil), s.readyChecks...)
	s.mu.Unlock()
	for _, rc := range checks {
		ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.ReadyTimeout)
		err := rc.Check(ctx)
		cancel()
		if err != nil {
			// Only the check's name goes out; its error goes to the log.
			Fail(c, &Error{Code: CodeUnavailable, Message: rc.Name + " is not ready", Err: err})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// readyProbe shares the storage probe of /readyz: its result is kept readyProbeTTL,
// and callers that find it stale wait for the one probe in flight, so that a flood of
// unauthenticated /readyz (anyone who reaches the port) makes at most about one
// storage request a second (an S3 HEAD, billed and rate limited by the provider).
type readyProbe struct {
	group singleflight.Group // the probe in flight

	mu  sync.Mutex // guards the fields below
	at  time.Time  // when the last probe ended (zero: never)
	err error      // its result
}

func (s *Server) probeStorage(ctx context.Context) error {
	p := &s.probe
	p.mu.Lock()
	if !p.at.IsZero() && time.Since(p.at) < readyProbeTTL {
		err := p.err
		p.mu.Unlock()
		return err
	}
	p.mu.Unlock()
	// The probe runs apart from the request that started it: the callers sharing it
	// must not fail because that one client went away.
	pctx := context.WithoutCancel(ctx)
	ch := p.group.DoChan("", func() (any, error) {
		err := s.statProbe(pctx)
		p.mu.Lock()
		p.at, p.err = time.Now(), err
		p.mu.Unlock()
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// statProbe makes the storage request itself.
func (s *Server) statProbe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	_, err := s.content.Stat(ctx, readyProbeKey)
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	// Whatever the cause (unreachable, timed out, permission), the instance is not
	// ready; the category goes to the log with the error, not to the client.
	return &Error{Code: CodeStorageUnavailable, Message: "the storage backend is not reachable", Err: err}
}
