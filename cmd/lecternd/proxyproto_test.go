package main

import (
	"io"
	"net/http"
	"testing"
)

// TestCheckingProxyKeepsTheProtocol checks that a request reaches lecternd through
// checkingProxy in the protocol the client spoke to the proxy: before, the proxy's
// transport spoke HTTP/1.1 to lecternd whatever came in, so curl's and
// tus-js-client's HTTP/2 never reached lecternd's HTTP/2 serving.
func TestCheckingProxyKeepsTheProtocol(t *testing.T) {
	e, p := newE2E(t)
	proxy := startCheckingProxy(t, p.addr, e.dataDir)
	tlsConf := client(t, e.dataDir).Transport.(*http.Transport).TLSClientConfig
	tests := []struct {
		name  string
		alpn  string
		major int
		want  string
	}{
		{"HTTP/1.1", "http/1.1", 1, "HTTP/1.1 -> HTTP/1.1"},
		{"HTTP/2", "h2", 2, "HTTP/2.0 -> HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := tlsConf.Clone()
			conf.NextProtos = []string{tt.alpn}
			tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: tt.major == 2}
			t.Cleanup(tr.CloseIdleConnections)
			resp, err := (&http.Client{Transport: tr}).Get(proxy.url + "/v1/conferences/e2e")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != tt.major {
				t.Fatalf("the client spoke %s to the proxy, want %s", resp.Proto, tt.name)
			}
			proxy.upstream.mu.Lock()
			seen := proxy.upstream.seen
			proxy.upstream.mu.Unlock()
			if len(seen) == 0 || seen[len(seen)-1] != tt.want {
				t.Fatalf("proxy -> lecternd: %v, want %q last", seen, tt.want)
			}
		})
	}
}
