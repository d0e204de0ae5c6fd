package minio

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers"
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

// writeSelfSignedCert writes public.crt and private.key, MinIO's names, into dir: an
// ECDSA P-256 certificate for 127.0.0.1 and localhost, valid for a week.
func writeSelfSignedCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "lectern test minio"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "public.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "private.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("writing the test certificate's key: %w", err)
	}
	return nil
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
