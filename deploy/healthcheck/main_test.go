package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbeURL(t *testing.T) {
	tests := []struct {
		listen  string
		ready   bool
		want    string
		wantErr bool
	}{
		{"", false, "https://127.0.0.1:8443/healthz", false},
		{":9443", true, "https://127.0.0.1:9443/readyz", false},
		{"0.0.0.0:8443", false, "https://127.0.0.1:8443/healthz", false},
		{"127.0.0.2:8443", false, "https://127.0.0.2:8443/healthz", false},
		{"[::1]:8443", false, "https://[::1]:8443/healthz", false},
		{"10.1.2.3:8443", false, "https://127.0.0.1:8443/healthz", false},
		{"lectern.example:8443", false, "https://127.0.0.1:8443/healthz", false},
		{"8443", false, "", true},
		{"127.0.0.1:", false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			got, err := probeURL(tt.listen, tt.ready)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("probeURL(%q) = %q, %v; want %q, error %v", tt.listen, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestCheck runs against a real TLS server on 127.0.0.1 with a self-signed
// certificate, as lecternd's first start makes.
func TestCheck(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"status":"not ready"}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	if err := check(srv.URL+"/healthz", 5*time.Second); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	if err := check(srv.URL+"/readyz", 5*time.Second); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unready server: %v, want a 503 error", err)
	}
	addr := srv.Listener.Addr().String()
	srv.Close()
	if err := check("https://"+addr+"/healthz", 5*time.Second); err == nil {
		t.Fatal("a closed server passed the check")
	}
}
