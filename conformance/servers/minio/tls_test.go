package minio

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
)

// TestStartTLS starts the HTTPS server, stores and reads an object through a client
// that trusts Server.CACertFile, checks that a client without it is refused, and
// restarts the server on the same address and certificate.
func TestStartTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second MinIO server")
	}
	s, err := startBinaryTLS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.proc.shutdown)
	if !strings.HasPrefix(s.Endpoint, "https://127.0.0.1:") || s.CACertFile == "" {
		t.Fatalf("endpoint %s, CA file %q: want https on 127.0.0.1 and a CA file", s.Endpoint, s.CACertFile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bucket := s.NewBucket(t)
	c := s.Client(t)
	const body = "over TLS"
	if _, err := c.PutObject(ctx, bucket, "k", strings.NewReader(body), int64(len(body)), miniogo.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	untrusting := &http.Client{Transport: &http.Transport{}}
	defer untrusting.CloseIdleConnections()
	_, err = untrusting.Get(s.Endpoint + "/minio/health/live")
	if unknown := (x509.UnknownAuthorityError{}); !errors.As(err, &unknown) {
		t.Fatalf("a client without the CA file got %v, want x509.UnknownAuthorityError", err)
	}

	s.Stop(t)
	s.Start(t)
	obj, err := c.GetObject(ctx, bucket, "k", miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || string(got) != body {
		t.Fatalf("after restart: %q, %v; want %q", got, err, body)
	}
}
