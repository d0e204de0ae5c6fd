package httpapi_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi"
)

// aeadSuites are the TLS 1.2 suites the server may agree to: forward secret (ECDHE)
// and AEAD (AES-GCM, ChaCha20-Poly1305). Written out here rather than read from the
// code under test, so that a suite added there by mistake fails this test.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TestTLSConfigSuites offers the server, over TLS 1.2, one suite at a time (every suite
// Go knows, the insecure ones too) and checks that only the AEAD ones get a handshake,
// for an ECDSA and an RSA certificate; TLS 1.3 and HTTP/2 still work.
func TestTLSConfigSuites(t *testing.T) {
	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, kind := range []string{"ecdsa", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			addr := serveTLS(t, selfSigned(t, kind))
			for _, cs := range all {
				if !slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
					continue
				}
				t.Run(cs.Name, func(t *testing.T) {
					c, err := tls.Dial("tcp", addr, &tls.Config{
						InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{cs.ID},
					})
					if err == nil {
						c.Close()
					}
					// A suite whose signature does not fit the certificate can never be
					// agreed on: that says nothing about the server's list.
					usable := (kind == "ecdsa") == isECDSASuite(cs.ID)
					want := usable && slices.Contains(aeadSuites, cs.ID)
					switch {
					case want && err != nil:
						t.Fatalf("AEAD suite refused: %v", err)
					case !want && err == nil:
						t.Fatalf("TLS 1.2 handshake with %s succeeded", cs.Name)
					}
				})
			}
			c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatalf("TLS 1.3: %v", err)
			}
			defer c.Close()
			if st := c.ConnectionState(); st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
				t.Fatalf("version %x, protocol %q; want TLS 1.3 and h2", st.Version, st.NegotiatedProtocol)
			}
		})
	}
}

func isECDSASuite(id uint16) bool {
	switch id {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:
		return true
	}
	return false
}

// serveTLS serves 404s with TLSConfig on 127.0.0.1 at a free port.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), TLSConfig: httpapi.TLSConfig(cert), ReadHeaderTimeout: 5 * time.Second,
		// Every refused handshake is logged; the refusals are what this test wants.
		ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// selfSigned makes a certificate for 127.0.0.1 with an ECDSA or RSA key (tlscert only
// makes ECDSA ones; operators bring RSA ones too).
func selfSigned(t *testing.T, kind string) tls.Certificate {
	t.Helper()
	var key crypto.Signer
	var err error
	if kind == "rsa" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
