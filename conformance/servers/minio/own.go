package minio

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lectern/lectern/conformance/servers"
)

// StartOwn starts a MinIO server for t alone, from the binary: not shared with other
// tests, and stopped and removed at t's end. Before the server starts, prepare gets
// its data folder (created, empty) to ready: a test of a full store mounts a small
// filesystem there. When the binary cannot be found or started it skips t, or fails
// it where S3 is required.
func StartOwn(t testing.TB, prepare func(dataDir string)) *Server {
	t.Helper()
	// Registered before prepare runs, so that it runs after prepare's own clean-ups
	// (an unmount): the server is stopped and its folder removed last.
	var s *Server
	t.Cleanup(func() {
		if s != nil {
			s.proc.shutdown()
		}
	})
	s, err := startBinaryWith(func(p *process) error {
		data := filepath.Join(p.dir, "data")
		if err := os.MkdirAll(data, 0o700); err != nil {
			return err
		}
		prepare(data)
		return nil
	})
	if err != nil {
		servers.Unavailable(t, "s3", err.Error(), howToEnable)
	}
	return s
}
