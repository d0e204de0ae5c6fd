package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

func TestSelfSigned(t *testing.T) {
	tests := []struct {
		name     string
		hosts    []string
		verify   []string // names a client must accept the certificate for
		rejected string   // a name it must not
	}{
		{"ip_and_name", []string{"127.0.0.1", "localhost"}, []string{"127.0.0.1", "localhost"}, "example.com"},
		{"ipv6", []string{"::1"}, []string{"::1"}, "127.0.0.1"},
		{"names", []string{"lectern.example", "files.example"}, []string{"lectern.example", "files.example"}, "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const validity = 48 * time.Hour
			certPEM, keyPEM, err := SelfSigned(tt.hosts, validity)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatalf("the certificate and key do not make a pair: %v", err)
			}
			cert, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if life := time.Until(cert.NotAfter); life < validity-time.Minute || life > validity+time.Minute {
				t.Errorf("valid for another %v, want about %v", life, validity)
			}
			if !cert.NotBefore.Before(time.Now()) {
				t.Errorf("not valid yet: from %v", cert.NotBefore)
			}
			pool := x509.NewCertPool()
			pool.AddCert(cert)
			for _, name := range tt.verify {
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
					t.Errorf("a client trusting it refuses it for %s: %v", name, err)
				}
			}
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: tt.rejected, Roots: pool}); err == nil {
				t.Errorf("accepted for %s, which it was not made for", tt.rejected)
			}
		})
	}
}
