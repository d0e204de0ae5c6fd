package minio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/lectern/lectern/conformance/servers"
	"github.com/lectern/lectern/conformance/servers/docker"
)

// TestDockerPath starts MinIO through the Docker path itself (whatever path the
// shared server took), stores an object, crashes and restarts the container, and reads
// the object back.
func TestDockerPath(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO container")
	}
	t.Setenv(viaEnv, "docker")
	if _, err := docker.Connect(context.Background()); err != nil {
		servers.Unavailable(t, "docker", err.Error(), docker.HowToEnable)
	}
	s, err := startDocker()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.proc.shutdown)
	if _, ok := s.proc.(*container); !ok || !s.Restartable() {
		t.Fatalf("startDocker gave a %T, want a restartable container", s.proc)
	}
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %s is not on 127.0.0.1", s.Endpoint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bucket := s.NewBucket(t)
	c := s.Client(t)
	const body = "through docker"
	if _, err := c.PutObject(ctx, bucket, "k", strings.NewReader(body), int64(len(body)), miniogo.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	s.Stop(t)
	if _, err := c.StatObject(ctx, bucket, "k", miniogo.StatObjectOptions{}); err == nil {
		t.Fatal("the stopped server still answers")
	}
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

func TestViaBinarySkipsDocker(t *testing.T) {
	t.Setenv(viaEnv, "binary")
	if s, err := startDocker(); err == nil || s != nil {
		t.Fatalf("startDocker with %s=binary = %v, %v; want not tried", viaEnv, s, err)
	}
}

func TestDockerOnlyDoesNotFallBack(t *testing.T) {
	t.Setenv(viaEnv, "docker")
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("LECTERN_S3_ENDPOINT", "")
	_, err := find()
	if err == nil || !errors.Is(err, docker.ErrNoDaemon) {
		t.Fatalf("find() with no daemon and %s=docker = %v; want ErrNoDaemon, not the binary", viaEnv, err)
	}
}
