// Package minio gives tests a real MinIO server on 127.0.0.1 and a fresh bucket on it,
// for the S3 backend's conformance suite, faults and benchmarks.
//
// The server is found in this order (SPEC §7):
//  1. an endpoint from the environment: LECTERN_S3_ENDPOINT (http://host:port),
//     LECTERN_S3_ACCESS_KEY, LECTERN_S3_SECRET_KEY and optionally LECTERN_S3_REGION,
//     unless LECTERN_S3_VIA forces a path. The tests cannot stop such a server, so where
//     S3 is required (CI) it is refused and the tests fail (servers.FromEnvironment)
//     rather than let the outage tests skip;
//  2. Docker, when a daemon answers: the minio binary of step 3 in a locally built
//     image (see startDocker; LECTERN_S3_VIA=docker or =binary forces one path);
//  3. the minio binary, from $LECTERN_MINIO_BIN, PATH or $(go env GOPATH)/bin: one
//     server per test process, started on first use at free ports with its data in a
//     temporary folder, and stopped by Shutdown (call it from TestMain through Main),
//     or killed by the kernel when the test process dies (Linux parent-death signal).
//
// When none works the test is skipped, or fails where S3 is required (CI): see
// package servers.
//
// StartTLS gives a second server of the same binary that speaks HTTPS only, with a
// self-signed certificate made at start, for what only TLS shows.
//
// Buckets are created with github.com/minio/minio-go/v7, a client independent of the
// aws-sdk-go-v2 the backend uses, so that tests can check what the backend stored
// through a second, unrelated client.
//
// It must not know the storage contract or the S3 backend.
package minio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lectern/lectern/conformance/servers"
)

const howToEnable = "install the server with `go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c` " +
	"(a few minutes, once per machine; deploy/test.sh does it), or, outside CI, point the tests at one with " +
	"LECTERN_S3_ENDPOINT, LECTERN_S3_ACCESS_KEY and LECTERN_S3_SECRET_KEY"

// Server is a reachable MinIO (or other S3-compatible) server.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:PORT (https:// for StartTLS).
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// CACertFile, for a server of StartTLS, is the PEM file of the certificate to
	// trust; empty for plain HTTP.
	CACertFile string

	proc serverProcess // nil when the server is not ours to stop and start
}

var shared = servers.Shared[*Server]{
	Backend:     "s3",
	HowToEnable: howToEnable,
	Find:        find,
	Stop: func(s *Server) {
		if s.proc != nil {
			s.proc.shutdown()
		}
	},
}

// Start returns the MinIO server of this test process, starting it on first use. When
// no server can be had it skips t, or fails it where S3 is required.
func Start(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t)
}

// Shutdown stops the servers Start and StartTLS started, if any, and removes their
// data. Call it once all tests are done (Main does).
func Shutdown() {
	shared.Shutdown()
	sharedTLS.Shutdown()
}

// Main runs the tests and then Shutdown: `func TestMain(m *testing.M) { minio.Main(m) }`.
func Main(m *testing.M) { servers.Main(m, Shutdown) }

func find() (*Server, error) {
	if s, ok, err := fromEnv(); ok {
		return s, err
	}
	var reasons []string
	if s, err := startDocker(); err == nil {
		return s, nil
	} else if dockerOnly() {
		return nil, fmt.Errorf("no MinIO server through Docker (%s=docker): %w", viaEnv, err)
	} else {
		reasons = append(reasons, "docker: "+err.Error())
	}
	s, err := startBinary()
	if err == nil {
		return s, nil
	}
	reasons = append(reasons, "binary: "+err.Error())
	return nil, fmt.Errorf("no MinIO server (%s)", strings.Join(reasons, "; "))
}

// fromEnv returns the server LECTERN_S3_ENDPOINT names, with ok false when it names
// none or LECTERN_S3_VIA forces a path of the tests' own (docker, binary).
func fromEnv() (*Server, bool, error) {
	endpoint := os.Getenv("LECTERN_S3_ENDPOINT")
	if endpoint == "" || os.Getenv(viaEnv) != "" {
		return nil, false, nil
	}
	if err := servers.FromEnvironment("s3", "LECTERN_S3_ENDPOINT"); err != nil {
		return nil, true, err
	}
	s := &Server{
		Endpoint:  endpoint,
		Region:    os.Getenv("LECTERN_S3_REGION"),
		AccessKey: os.Getenv("LECTERN_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("LECTERN_S3_SECRET_KEY"),
	}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	if s.AccessKey == "" || s.SecretKey == "" {
		return nil, true, fmt.Errorf("LECTERN_S3_ENDPOINT is set but LECTERN_S3_ACCESS_KEY or LECTERN_S3_SECRET_KEY is not")
	}
	if _, err := s.client(); err != nil {
		return nil, true, err
	}
	return s, true, nil
}

// Restartable reports whether Stop and Start work: only for a server this package
// started itself.
func (s *Server) Restartable() bool { return s.proc != nil }

// Stop kills the server (as a crash would: no graceful shutdown). With Start it
// implements conformance.ServerControl.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.proc == nil {
		t.Fatalf("minio: this server (%s) was not started by the tests and cannot be stopped", s.Endpoint)
	}
	if err := s.proc.stop(); err != nil {
		t.Fatalf("minio: stop: %v", err)
	}
}

// Start restarts a stopped server on the same address and data folder, and waits
// until it answers. Starting a running server does nothing.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.proc == nil {
		t.Fatalf("minio: this server (%s) was not started by the tests and cannot be started", s.Endpoint)
	}
	if err := s.proc.start(); err != nil {
		t.Fatalf("minio: restart: %v", err)
	}
}

// Client returns a minio-go client for the server.
func (s *Server) Client(t testing.TB) *miniogo.Client {
	t.Helper()
	c, err := s.client()
	if err != nil {
		t.Fatalf("minio: %v", err)
	}
	return c
}

func (s *Server) client() (*miniogo.Client, error) {
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("endpoint %q is not an http(s) URL", s.Endpoint)
	}
	tr, err := s.transport()
	if err != nil {
		return nil, err
	}
	return miniogo.New(u.Host, &miniogo.Options{
		Creds:     credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:    u.Scheme == "https",
		Region:    s.Region,
		Transport: tr,
	})
}

// NewBucket creates a fresh, empty bucket with a random name and removes it, with
// everything in it, when t ends.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	c := s.Client(t)
	name := "lectern-test-" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.MakeBucket(ctx, name, miniogo.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("minio: creating bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// ForceDelete is MinIO's one-request removal of a bucket and its objects and
		// incomplete uploads.
		if err := c.RemoveBucketWithOptions(ctx, name, miniogo.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Logf("minio: removing bucket %s: %v", name, err)
		}
	})
	return name
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
