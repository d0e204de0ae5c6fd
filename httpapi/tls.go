package httpapi

import "crypto/tls"

// TLSConfig is the server's TLS configuration: TLS 1.2 or newer, Go's default
// (modern, AEAD-only for 1.2) cipher suites, HTTP/2 and HTTP/1.1 offered.
func TLSConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: certs,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}
