package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// Runtime is what lecternd hands to the parts it hosts.
type Runtime struct {
	Config  Config
	Logger  *slog.Logger
	Storage *storage.Bucket
	// KEK wraps the conference master keys; KEKID names it in conference.xml.
	// PreviousKEKs (by id) still open conferences wrapped before a rotation. Never
	// log them.
	KEK          []byte
	KEKID        string
	PreviousKEKs map[string][]byte
	Auth         *httpapi.Authority
	// Metrics is the registry served at /metrics, for the hosted parts' own metrics;
	// nil in tests that need none.
	Metrics prometheus.Registerer
}

// Extension is a part lecternd hosts beside the built-in routes (the conference
// engine, the upload streams, the event streams).
type Extension struct {
	Name        string
	Routes      httpapi.RouteRegistrar
	ErrorRules  []httpapi.ErrorRule
	ReadyChecks []httpapi.ReadyCheck
	// OnShutdownStart runs when the HTTP server starts shutting down (close
	// long-lived streams such as SSE so that Shutdown need not wait for them).
	OnShutdownStart func()
	// Shutdown runs after the HTTP server has stopped, with its own timeout: flush
	// everything acknowledged.
	Shutdown func(ctx context.Context) error
}

// ExtensionFactory builds one Extension. A factory may return a zero Extension to
// host nothing (for example the engine in the components role).
type ExtensionFactory func(ctx context.Context, rt *Runtime) (Extension, error)

// extensionFactories are the hosted parts, in start order (they shut down in reverse).
var extensionFactories []ExtensionFactory
