package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/lectern/lectern/httpapi/openapicheck"
)

// TestOpenAPIMatchesServer assembles the server as lecternd runs it (role all, every
// hosted part) and fails when a served route is missing from docs/openapi.yaml or the
// file documents an operation no route serves.
func TestOpenAPIMatchesServer(t *testing.T) {
	a := assembleInProcess(t)

	spec, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	missing, extra, err := openapicheck.Compare(a.api.Engine().Routes(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("route %s is not in docs/openapi.yaml", m)
	}
	for _, x := range extra {
		t.Errorf("docs/openapi.yaml documents %s, which lecternd does not serve", x)
	}
}

// assembleInProcess assembles the server as lecternd does for the given flags (on a
// fresh data dir, nothing from the environment), in this process, closed at cleanup.
func assembleInProcess(t *testing.T, args ...string) *assembled {
	t.Helper()
	cfg, sec, log := bootstrapInProcess(t, args...)
	a, err := assemble(context.Background(), cfg, sec, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close(0, log) })
	return a
}

// bootstrapInProcess loads the configuration of the given flags (on a fresh data dir,
// nothing from the environment) and prepares the data dir, as a start does.
func bootstrapInProcess(t *testing.T, args ...string) (Config, *secrets, *slog.Logger) {
	t.Helper()
	cfg, err := loadConfig(append([]string{"--data-dir", filepath.Join(t.TempDir(), "data")}, args...),
		func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sec, err := bootstrap(cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, sec, log
}

const openapiFile = "../../docs/openapi.yaml"

// loadOpenAPI parses docs/openapi.yaml as a client generator would.
func loadOpenAPI(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(openapiFile)
	if err != nil {
		t.Fatalf("%s: %v", openapiFile, err)
	}
	return doc
}

// TestOpenAPIDocumentIsValid: docs/openapi.yaml is a valid OpenAPI document, so that
// client generators and validators accept it (before, a description with an unquoted
// comma made a stray schema key, and kin-openapi refused the whole file).
func TestOpenAPIDocumentIsValid(t *testing.T) {
	if err := loadOpenAPI(t).Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", openapiFile, err)
	}
}
