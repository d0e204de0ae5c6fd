package httpapi

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lectern/lectern/core/layout"
)

// stallSize is larger than what the loopback socket buffers (HTTP/1.1) or the
// client's HTTP/2 stream window hold, so that a client that stops reading blocks the
// server's writes.
const stallSize = 32 << 20

// TestStalledDownloadIsAbandoned: a client that opens a download (a signed URL is
// enough, no token) and stops reading must not hold the response, its goroutine, its
// connection and the open storage read for ever. With a stall timeout of 1 s the
// stalled requests end (the in-flight gauge returns to 0) and their bodies are cut
// short, over HTTP/1.1 and HTTP/2; a client that reads gets every byte, also on a
// kept-alive connection reused after longer than the timeout.
func TestStalledDownloadIsAbandoned(t *testing.T) {
	data := make([]byte, stallSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	tests := []struct {
		name string
		h2   bool
	}{
		{"http/1.1", false},
		{"h2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newStallEnv(t, tt.h2, time.Second)
			e.put(layout.Conference{OrgHash: testOrg, ID: testConf}.ContentKey(testName), data)
			signed := e.auth.SignedContentURL(ContentPath(testOrg, testConf, testName), time.Hour)

			const n = 3
			var stalled []io.Reader
			for range n {
				stalled = append(stalled, e.openStalled(t, tt.h2, signed))
			}
			waitFor(t, "stalled downloads to be abandoned", func() bool {
				return testutil.ToFloat64(e.api.metrics.inFlight) == 0
			})
			for i, body := range stalled {
				got, err := io.Copy(io.Discard, body)
				if err == nil && got >= stallSize {
					t.Fatalf("stalled download %d: the whole body (%d bytes) arrived after the server gave up", i, got)
				}
			}
			if !bytes.Contains([]byte(e.logs.String()), []byte("response abandoned")) {
				t.Error("the abandoned responses are not in the request log")
			}

			// A reading client is served in full, twice on one connection, the second
			// time after the first response's deadline has passed.
			c := e.srv.Client()
			for i := range 2 {
				resp, err := c.Get(e.srv.URL + signed)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, data) {
					t.Fatalf("download %d: status %d, %d bytes, %v", i, resp.StatusCode, len(got), err)
				}
				if i == 0 {
					time.Sleep(1500 * time.Millisecond) // past the stall timeout, idle
				}
			}
		})
	}
}

// newStallEnv is newEnv with a stall timeout, serving HTTP/2 when h2 is set.
func newStallEnv(t *testing.T, h2 bool, stall time.Duration) *env {
	t.Helper()
	e := newEnv(t, func(c *Config) { c.WriteStallTimeout = stall })
	e.srv.Close()
	srv := httptest.NewUnstartedServer(e.api.Handler())
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.srv = srv
	return e
}

// openStalled starts a GET of path and never reads its body; it returns the body to
// read later. Over HTTP/1.1 the request is written on a raw TLS connection, so that
// no client buffer drains the socket.
func (e *env) openStalled(t *testing.T, h2 bool, path string) io.Reader {
	t.Helper()
	if h2 {
		// Each on its own transport: one HTTP/2 connection's window is shared.
		tr := e.srv.Client().Transport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		resp, err := (&http.Client{Transport: tr}).Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Fatalf("%s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp.Body
	}
	addr := e.srv.Listener.Addr().String()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr); err != nil {
		t.Fatal(err)
	}
	// Read later with a generous bound, in case the connection was never closed.
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	return conn
}
