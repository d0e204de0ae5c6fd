package httpapi

import (
	"bytes"
	"io"
	"net/http"
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
