package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// ServerRole says which routes an instance serves (SPEC section 1: the conferencing
// role receives content and owns metadata; the components role only serves content).
type ServerRole string

// The server roles.
const (
	ServeAll          ServerRole = "all"
	ServeConferencing ServerRole = "conferencing"
	ServeComponents   ServerRole = "components"
)

// ParseServerRole parses all, conferencing or components.
func ParseServerRole(s string) (ServerRole, error) {
	switch r := ServerRole(s); r {
	case ServeAll, ServeConferencing, ServeComponents:
		return r, nil
	}
	return "", fmt.Errorf("unknown server role %q (all, conferencing, components)", s)
}

// ServesContent reports whether the role serves content downloads.
func (r ServerRole) ServesContent() bool { return r == ServeAll || r == ServeComponents }

// ServesConferencing reports whether the role serves the conference API.
func (r ServerRole) ServesConferencing() bool { return r == ServeAll || r == ServeConferencing }

// Limits bound what one request may ask for.
type Limits struct {
	// MaxBodyBytes caps request bodies (JSON, XML) unless a route group raises it with
	// BodyLimit. Default 1 MiB.
	MaxBodyBytes int64
	// MaxRanges caps the ranges of one Range header; more is answered 416. Default 8.
	MaxRanges int
}

// ReadyCheck is one condition /readyz waits for besides the content backend.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// RouteRegistrar adds a group of routes. api is the /v1 group; registrars use
// ValidateParams before s.Require for authorization, BodyLimit for bigger bodies and
// Fail for errors. Registrars are called whatever the role; one that belongs to a
// role checks s.Role() itself.
type RouteRegistrar func(s *Server, api *gin.RouterGroup)

// Config configures a Server.
type Config struct {
	Role ServerRole // default ServeAll
	// Content is where content files are read from (the components role's only
	// storage access); it also answers the readiness probe. Required.
	Content *storage.Bucket
	Auth    *Authority // required
	Limits  Limits
	Logger  *slog.Logger // default slog.Default()
	// Registry receives the metrics and is served at /metrics. Default: a new registry
	// with the Go and process collectors.
	Registry *prometheus.Registry
	// WriteStallTimeout abandons a download (the content routes, and the routes of
	// registrars that use StallGuard) whose client takes no bytes for this long.
	// Default DefaultWriteStallTimeout; negative: never.
	WriteStallTimeout time.Duration
	// ReadyTimeout bounds each readiness check. Default 2s.
	ReadyTimeout time.Duration
	ReadyChecks  []ReadyCheck
	// ErrorRules classify errors of route groups added later (engine sentinels); they
	// are consulted before the built-in rules.
	ErrorRules []ErrorRule
	// Routes are registered after the built-in routes.
	Routes []RouteRegistrar
	// CORS lets browser apps on other origins use the API (see cors.go); zero: no
	// CORS headers, a browser on another origin can call nothing.
	CORS CORSConfig
}

// Server is the assembled HTTP handler.
type Server struct {
	scope      scopeChecker
	cfg        Config
	engine     *gin.Engine
	api        *gin.RouterGroup
	auth       *Authority
	content    *storage.Bucket
	logger     *slog.Logger
	metrics    *metrics
	registry   *prometheus.Registry
	errorRules []ErrorRule
	cors       *corsHandler // nil without CORS origins

	mu          sync.Mutex
	readyChecks []ReadyCheck
	draining    atomic.Bool
	probe       readyProbe
}

var ginModeOnce sync.Once

// New assembles the router: middleware, ops routes, content routes (roles all and
// components), the token routes and cfg.Routes.
func New(cfg Config) (*Server, error) {
	if cfg.Content == nil {
		return nil, errors.New("httpapi: Config.Content is required")
	}
	if cfg.Auth == nil {
		return nil, errors.New("httpapi: Config.Auth is required")
	}
	if cfg.Role == "" {
		cfg.Role = ServeAll
	}
	if _, err := ParseServerRole(string(cfg.Role)); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if cfg.Limits.MaxBodyBytes == 0 {
		cfg.Limits.MaxBodyBytes = 1 << 20
	}
	if cfg.Limits.MaxRanges <= 0 {
		cfg.Limits.MaxRanges = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WriteStallTimeout == 0 {
		cfg.WriteStallTimeout = DefaultWriteStallTimeout
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	withProcess := cfg.Registry == nil
	if withProcess {
		cfg.Registry = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Registry, withProcess)
	if err != nil {
		return nil, fmt.Errorf("httpapi: metrics: %w", err)
	}

	// Gin's mode is process-wide; release mode only silences its debug printing.
	ginModeOnce.Do(func() { gin.SetMode(gin.ReleaseMode) })
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = true
	// Client addresses come from the connection, not from headers anyone can send;
	// behind a proxy, set trusted proxies on Engine().
	if err := e.SetTrustedProxies(nil); err != nil {
		return nil, err
	}

	s := &Server{
		cfg: cfg, engine: e, auth: cfg.Auth, content: cfg.Content, logger: cfg.Logger,
		metrics: m, registry: cfg.Registry,
		errorRules:  append(append([]ErrorRule(nil), cfg.ErrorRules...), defaultErrorRules()...),
		readyChecks: append([]ReadyCheck(nil), cfg.ReadyChecks...),
	}
	e.Use(s.observe, s.recoverer, defaultBodyLimit(cfg.Limits.MaxBodyBytes))
	if len(cfg.CORS.Origins) > 0 {
		// Global, so before every route's authentication, and before NoRoute and
		// NoMethod are set, so that their chains answer preflights too.
		if s.cors, err = newCORS(cfg.CORS); err != nil {
			return nil, fmt.Errorf("httpapi: %w", err)
		}
		e.Use(s.cors.serve)
	}
	e.NoRoute(s.noRoute)
	e.NoMethod(s.noMethod)

	s.registerOps()
	s.api = e.Group("/v1")
	s.registerTokenRoutes()
	if cfg.Role.ServesContent() {
		s.registerContent()
	}
	s.Register(cfg.Routes...)
	return s, nil
}

// Register adds route groups (before the server starts serving).
func (s *Server) Register(rs ...RouteRegistrar) {
	for _, r := range rs {
		r(s, s.api)
	}
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// Engine is the underlying Gin engine (for Routes() and proxy settings).
func (s *Server) Engine() *gin.Engine { return s.engine }

// API is the /v1 route group.
func (s *Server) API() *gin.RouterGroup { return s.api }

// Authority mints and verifies tokens and signed URLs.
func (s *Server) Authority() *Authority { return s.auth }

// WriteStallTimeout is how long a guarded download waits for its client to take
// bytes (Config.WriteStallTimeout after defaults; negative: never).
func (s *Server) WriteStallTimeout() time.Duration { return s.cfg.WriteStallTimeout }

// Role is the server role.
func (s *Server) Role() ServerRole { return s.cfg.Role }

// Logger is the server's logger.
func (s *Server) Logger() *slog.Logger { return s.logger }

// Registry is the metrics registry served at /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// AddErrorRules adds error classifications ahead of the built-in ones.
func (s *Server) AddErrorRules(rules ...ErrorRule) {
	s.errorRules = append(append([]ErrorRule(nil), rules...), s.errorRules...)
}

// AddReadyCheck adds a readiness condition.
func (s *Server) AddReadyCheck(c ReadyCheck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readyChecks = append(s.readyChecks, c)
}

// SetDraining makes /readyz answer 503 (during graceful shutdown), so that a load
// balancer stops sending new requests while the running ones finish.
func (s *Server) SetDraining(v bool) { s.draining.Store(v) }

// ContentPath is the URL path of a content file.
func ContentPath(orgHash, conference, name string) string {
	return layout.Conference{OrgHash: orgHash, ID: conference}.ContentURLPath(name)
}

// SignedContentURL returns the path of a content file with a signature good for ttl.
func (s *Server) SignedContentURL(orgHash, conference, name string, ttl time.Duration) string {
	return s.auth.SignedContentURL(ContentPath(orgHash, conference, name), ttl)
}
