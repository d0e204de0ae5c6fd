package httpapi

import "crypto/tls"

// TLSConfig is the server's TLS configuration: TLS 1.2 or newer, HTTP/2 and HTTP/1.1
// offered. For TLS 1.2 only forward-secret AEAD suites are agreed to (ECDHE with
// AES-GCM or ChaCha20-Poly1305): Go's default list still holds the CBC-SHA1 ones for
// old clients, which this server has no need to serve. TLS 1.3's suites are all AEAD
// and not configurable.
func TLSConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: certs,
		NextProtos:   []string{"h2", "http/1.1"},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
