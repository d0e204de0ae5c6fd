package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// assembled is the server before it listens: the backend, the hosted parts and the
// API over them.
type assembled struct {
	bucket *storage.Bucket
	exts   []Extension
	api    *httpapi.Server
}

// assemble opens the backend, starts the hosted parts and builds the API. On error it
// has released what it opened.
func assemble(ctx context.Context, cfg Config, sec *secrets, log *slog.Logger) (_ *assembled, err error) {
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	bucket, err := backends.Open(openCtx, cfg.Backend)
	cancel()
	if err != nil {
		err = fmt.Errorf("storage: %w", err)
		// backends.Open says ErrInvalidArgument of the URL only (scheme, parameters,
		// credentials in it, a password_file that cannot be read), never of a server
		// that is down or refuses (ErrUnavailable, ErrPermission): a restart may fix those.
		if errors.Is(err, storage.ErrInvalidArgument) {
			return nil, configMistake(err)
		}
		return nil, err
	}
	a := &assembled{bucket: bucket}
	defer func() {
		if err != nil {
			a.close(time.Duration(cfg.ShutdownTimeout), log)
		}
	}()
	auth, err := httpapi.NewAuthority(sec.TokenSecret, sec.PreviousTokenSecrets...)
	if err != nil {
		return nil, err
	}
	// One registry for the API's metrics and the hosted parts' (the sweep's), with
	// the Go and process collectors httpapi would otherwise add to one of its own.
	registry := prometheus.NewRegistry()
	if err := registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	rt := &Runtime{Config: cfg, Logger: log, Storage: bucket, KEK: sec.KEK, KEKID: sec.KEKID, PreviousKEKs: sec.PreviousKEKs, Auth: auth, Metrics: registry}
	for i, f := range extensionFactories {
		e, err := f(ctx, rt)
		if err != nil {
			// A factory that fails returns no Extension, so no name to report.
			return nil, fmt.Errorf("starting hosted part %d: %w", i, err)
		}
		a.exts = append(a.exts, e)
	}
	acfg := httpapi.Config{
		Role:              httpapi.ServerRole(cfg.Role),
		Content:           bucket,
		Auth:              auth,
		Limits:            httpapi.Limits{MaxBodyBytes: int64(cfg.Limits.MaxRequestBody)},
		WriteStallTimeout: time.Duration(cfg.WriteStallTimeout),
		Logger:            log,
		Registry:          registry,
		CORS:              httpapi.CORSConfig{Origins: cfg.CORSOrigins},
	}
	for _, e := range a.exts {
		if e.Routes != nil {
			acfg.Routes = append(acfg.Routes, e.Routes)
		}
		acfg.ErrorRules = append(acfg.ErrorRules, e.ErrorRules...)
		acfg.ReadyChecks = append(acfg.ReadyChecks, e.ReadyChecks...)
	}
	if a.api, err = httpapi.New(acfg); err != nil {
		return nil, err
	}
	return a, nil
}

// close flushes the hosted parts in reverse order, each with its own timeout, then
// closes the backend. It returns errShutdown when a part's Shutdown failed.
func (a *assembled) close(timeout time.Duration, log *slog.Logger) error {
	err := shutdownExtensions(a.exts, timeout, log)
	if cerr := a.bucket.Close(); cerr != nil {
		log.Warn("closing the storage backend", "err", cerr)
	}
	return err
}

// errShutdown: a hosted part's Shutdown (the engine's flush) failed, a full disk at
// SIGTERM say. Nothing acknowledged is lost (the journal holds it and the next start
// replays it), but the stop was not clean: lecternd exits 1, not 0.
var errShutdown = errors.New("a hosted part's shutdown failed")

// serve assembles the server, listens, and on ctx's end shuts down: /readyz turns
// 503 and the listener closes, the HTTP server drains for up to the shutdown timeout
// (then closes what still runs and waits for those handlers to return), then every
// hosted part's Shutdown (the engine's flush) runs with a timeout of its own, then
// the backend is closed.
func serve(ctx context.Context, cfg Config, sec *secrets, log *slog.Logger) (err error) {
	// The address first: a port already taken fails before the storage is touched.
	ln, err := net.Listen("tcp", cfg.Listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w (another process, perhaps another lecternd, listens there: stop it or choose another address with --listen)", err)
	}
	var addrErr *net.AddrError
	if errors.As(err, &addrErr) {
		return configMistake(err) // "missing port in address" and the like
	}
	if err != nil {
		return err
	}
	a, err := assemble(ctx, cfg, sec, log)
	if err != nil {
		ln.Close()
		return err
	}
	// The hosted parts are shut down on every way out; how it went joins serve's error.
	defer func() {
		err = errors.Join(err, a.close(time.Duration(cfg.ShutdownTimeout), log))
	}()
	api, exts := a.api, a.exts
	handlers := &handlerCount{}
	srv := &http.Server{
		Handler:           handlers.wrap(api.Handler()),
		TLSConfig:         httpapi.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// TLS handshake failures (a client that does not trust the self-signed
		// certificate) are routine; keep them out of the normal log.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// A renewed certificate is served without a restart.
	srv.TLSConfig.GetCertificate = sec.Cert.GetCertificate
	for _, e := range exts {
		if e.OnShutdownStart != nil {
			srv.RegisterOnShutdown(e.OnShutdownStart)
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	log.Info("listening", "addr", ln.Addr().String(), "url", "https://localhost:"+port, "role", cfg.Role, "backend", redactedURL(cfg.Backend))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	api.SetDraining(true)
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still running at the shutdown timeout; closing them", "err", err)
		_ = srv.Close()
		// Close does not wait for handlers. Those cut off end soon (their connection
		// and request context are gone), and must have ended before the engine's
		// flush and the backend's close run under them.
		if n := handlers.waitIdle(handlerWaitAfterClose); n > 0 {
			log.Error("requests still running after their connections were closed; flushing anyway", "requests", n)
		}
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handlerWaitAfterClose bounds the wait for handlers whose connections the shutdown
// closed: they stop at their next read, write or storage call.
const handlerWaitAfterClose = 10 * time.Second

// handlerCount counts the requests whose handler is running: http.Server.Close, unlike
// Shutdown, does not wait for them.
type handlerCount struct{ running atomic.Int64 }

func (h *handlerCount) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.running.Add(1)
		defer h.running.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// waitIdle waits until no handler runs or the bound has passed, and returns how many
// still run.
func (h *handlerCount) waitIdle(bound time.Duration) int64 {
	deadline := time.Now().Add(bound)
	for {
		n := h.running.Load()
		if n == 0 || !time.Now().Before(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func shutdownExtensions(exts []Extension, timeout time.Duration, log *slog.Logger) error {
	var failed []error
	for i := len(exts) - 1; i >= 0; i-- {
		e := exts[i]
		if e.Shutdown == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := e.Shutdown(ctx); err != nil {
			log.Error("shutdown failed", "part", e.Name, "err", err)
			failed = append(failed, fmt.Errorf("%s: %w", e.Name, err))
		} else {
			log.Info("shut down", "part", e.Name)
		}
		cancel()
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %w", errShutdown, errors.Join(failed...))
	}
	return nil
}

// redactedURL hides a password in a storage URL before it is logged.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
