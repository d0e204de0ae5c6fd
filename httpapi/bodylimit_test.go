package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestRaisedBodyLimitBeatsTheDefault: a route group that raises the limit (as the tus
// PATCH routes do) takes a body whose declared length is over the server-wide
// default, while the other routes still answer 413.
func TestRaisedBodyLimitBeatsTheDefault(t *testing.T) {
	sink := func(c *gin.Context) {
		n, err := io.Copy(io.Discard, c.Request.Body)
		if err != nil {
			Fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"read": n})
	}
	e := newEnv(t, func(cfg *Config) {
		cfg.Limits.MaxBodyBytes = 1 << 20
		cfg.Routes = append(cfg.Routes, func(s *Server, api *gin.RouterGroup) {
			api.POST("/test-unlimited", BodyLimit(-1), sink)
			api.POST("/test-raised", BodyLimit(8<<20), sink)
			api.POST("/test-default", sink)
		})
	})
	body := bytes.Repeat([]byte{'x'}, 4<<20)
	tests := []struct {
		path string
		want int
	}{
		{"/v1/test-unlimited", 200},
		{"/v1/test-raised", 200},
		{"/v1/test-default", 413},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := e.do("POST", tt.path, nil, bytes.NewReader(body))
			if r.status != tt.want {
				t.Fatalf("%s with 4 MiB: %d, want %d: %s", tt.path, r.status, tt.want, r.body)
			}
		})
	}
}

// TestEarlyTooLargeKeepsAnHTTP2Connection: the 413 for a declared length over the
// limit asks an HTTP/1.1 client to close the connection (its unread body is in the
// way), but not an HTTP/2 one: Go turns "Connection: close" into a GOAWAY, which
// ended the whole connection and made curl drop the 413's body. The next request
// of the client shows which happened: over HTTP/2 it reuses the connection.
func TestEarlyTooLargeKeepsAnHTTP2Connection(t *testing.T) {
	tests := []struct {
		name      string
		h2        bool
		wantProto string
		wantClose bool
	}{
		{"http1.1", false, "HTTP/1.1", true},
		{"h2", true, "HTTP/2.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) {
				cfg.Routes = append(cfg.Routes, func(s *Server, api *gin.RouterGroup) {
					api.PUT("/test-small", BodyLimit(1024), func(c *gin.Context) { c.Status(http.StatusNoContent) })
				})
			})
			srv := httptest.NewUnstartedServer(e.api.Handler())
			srv.EnableHTTP2 = tt.h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			client := srv.Client()

			req, err := http.NewRequest(http.MethodPut, srv.URL+"/v1/test-small", bytes.NewReader(bytes.Repeat([]byte{'x'}, 8<<10)))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the 413's body: %v", err)
			}
			if resp.Proto != tt.wantProto {
				t.Fatalf("protocol %s, want %s", resp.Proto, tt.wantProto)
			}
			wantError(t, reply{status: resp.StatusCode, header: resp.Header, body: body}, http.StatusRequestEntityTooLarge, CodeTooLarge)
			if got := resp.Header.Get("Connection") == "close" || resp.Close; got != tt.wantClose {
				t.Fatalf("413 asks to close the connection: %v, want %v (header %q)", got, tt.wantClose, resp.Header.Get("Connection"))
			}

			var reused bool
			trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
			req2, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
				http.MethodGet, srv.URL+"/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp2, err := client.Do(req2)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp2.Body)
			resp2.Body.Close()
			if reused == tt.wantClose {
				t.Fatalf("the request after the 413 reused the connection: %v, want %v", reused, !tt.wantClose)
			}
		})
	}
}
