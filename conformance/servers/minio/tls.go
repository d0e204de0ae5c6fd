package minio

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers"
	"github.com/lectern/lectern/httpapi/tlscert"
)

// sharedTLS is the second server of a test process: the same binary serving HTTPS,
// for what only TLS shows (how clients sign payloads over it, and what TLS costs).
var sharedTLS = servers.Shared[*Server]{
	Backend:     "s3",
	HowToEnable: howToEnable,
	Find:        startBinaryTLS,
	Stop: func(s *Server) {
		if s.proc != nil {
			s.proc.shutdown()
		}
	},
}

// StartTLS returns a MinIO server of this test process that speaks HTTPS only, with a
// self-signed certificate for 127.0.0.1 made at start (Server.CACertFile trusts
// it). It is always run from the minio binary, whatever LECTERN_S3_VIA says, and
// never taken from LECTERN_S3_ENDPOINT. When the binary is missing it skips t, or
// fails it where S3 is required.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return sharedTLS.Get(t)
}

func startBinaryTLS() (*Server, error) {
	return startBinaryWith(func(p *process) error {
		certs := filepath.Join(p.dir, "certs")
		if err := writeSelfSignedCert(certs); err != nil {
			return err
		}
		p.certsDir = certs
		s := &Server{CACertFile: filepath.Join(certs, "public.crt")}
		tr, err := s.transport()
		if err != nil {
			return err
		}
		p.tlsConfig = tr.TLSClientConfig
		return nil
	})
}

// writeSelfSignedCert writes public.crt and private.key, MinIO's names, into dir: a
// certificate for 127.0.0.1 and localhost, valid for a week.
func writeSelfSignedCert(dir string) error {
	certPEM, keyPEM, err := tlscert.SelfSigned([]string{"127.0.0.1", "localhost"}, 7*24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "public.crt"), certPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "private.key"), keyPEM, 0o600)
}

// transport returns an HTTP transport that trusts the server's certificate, or
// http.DefaultTransport's settings for a plain-HTTP server.
func (s *Server) transport() (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.CACertFile == "" {
		return tr, nil
	}
	b, err := os.ReadFile(s.CACertFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", s.CACertFile)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}
