package httpapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/storage"
)

func sha256Sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// downDriver is a backend that cannot be reached: every Stat and Get fails with
// ErrUnavailable, as a real driver reports a dropped connection.
type downDriver struct{ storage.Driver }

func (downDriver) Stat(_ context.Context, key string) (storage.Attributes, error) {
	return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "stat", key, errors.New("connection refused"))
}

func (downDriver) Get(_ context.Context, key string, _, _ int64) (io.ReadCloser, storage.Attributes, error) {
	return nil, storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "get", key, errors.New("connection refused"))
}

func TestHealthAndReady(t *testing.T) {
	up := newEnv(t)
	if r := up.do(http.MethodGet, "/healthz", nil, nil); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := up.do(http.MethodGet, "/readyz", nil, nil); r.status != 200 {
		t.Fatalf("readyz with a working backend: %d %s", r.status, r.body)
	}

	down := newEnvWithDriver(t, downDriver{diskDriver(t)})
	if r := down.do(http.MethodGet, "/healthz", nil, nil); r.status != 200 {
		t.Fatalf("healthz must not depend on the backend: %d", r.status)
	}
	r := down.do(http.MethodGet, "/readyz", nil, nil)
	wantError(t, r, 503, CodeStorageUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if strings.Contains(string(r.body), "connection refused") {
		t.Fatal("the backend's error text reached the client")
	}
	// The content route answers 503 too, not 500 and not 404.
	c := down.do(http.MethodGet, ContentPath(testOrg, testConf, testName), bearer(down.token(RoleAdmin, "")), nil)
	wantError(t, c, 503, CodeStorageUnavailable)
	if c.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}

	t.Run("draining", func(t *testing.T) {
		up.api.SetDraining(true)
		defer up.api.SetDraining(false)
		wantError(t, up.do(http.MethodGet, "/readyz", nil, nil), 503, CodeUnavailable)
	})
	t.Run("extra check", func(t *testing.T) {
		up.api.AddReadyCheck(ReadyCheck{Name: "engine", Check: func(context.Context) error { return errors.New("recovering") }})
		wantError(t, up.do(http.MethodGet, "/readyz", nil, nil), 503, CodeUnavailable)
	})
}

func TestMetricsExposed(t *testing.T) {
	e := newEnvWithDriver(t, downDriver{diskDriver(t)})
	e.do(http.MethodGet, "/healthz", nil, nil)
	e.do(http.MethodGet, "/readyz", nil, nil)
	e.do(http.MethodGet, "/nope", nil, nil)
	r := e.do(http.MethodGet, "/metrics", nil, nil)
	if r.status != 200 {
		t.Fatalf("metrics %d", r.status)
	}
	for _, want := range []string{
		`lectern_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`lectern_http_requests_total{method="GET",route="/readyz",status="503"} 1`,
		`lectern_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`lectern_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="+Inf"} 1`,
		`lectern_http_response_bytes_total{route="/healthz"}`,
		`lectern_storage_errors_total{category="unavailable"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

var errTestConflict = errors.New("slide set changed")

func TestErrorShapes(t *testing.T) {
	testRoutes := func(s *Server, api *gin.RouterGroup) {
		api.GET("/test/panic", func(c *gin.Context) { panic("secret detail 42") })
		api.GET("/test/conflict", func(c *gin.Context) { Fail(c, errTestConflict) })
		api.GET("/test/unclassified", func(c *gin.Context) { Fail(c, errors.New("disk melted at /secret/path")) })
		api.POST("/test/echo", func(c *gin.Context) {
			var v map[string]any
			if err := DecodeJSON(c, &v); err != nil {
				Fail(c, err)
				return
			}
			c.JSON(200, v)
		})
		big := api.Group("/test/big", BodyLimit(1<<20))
		big.POST("", func(c *gin.Context) {
			n, err := io.Copy(io.Discard, c.Request.Body)
			if err != nil {
				Fail(c, err)
				return
			}
			c.JSON(200, gin.H{"n": n})
		})
	}
	e := newEnv(t, func(c *Config) {
		c.Limits.MaxBodyBytes = 1000
		c.Routes = append(c.Routes, testRoutes)
		c.ErrorRules = []ErrorRule{{Match: Is(errTestConflict), Code: CodeConflict}}
	})
	json := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               io.Reader
		status             int
		code               Code
		mustNotContain     string
	}{
		{"unknown route", http.MethodGet, "/v2/nothing", nil, nil, 404, CodeNotFound, ""},
		{"wrong method", http.MethodDelete, "/healthz", nil, nil, 405, CodeMethodNotAllowed, ""},
		{"panic", http.MethodGet, "/v1/test/panic", nil, nil, 500, CodeInternal, "secret detail"},
		{"engine sentinel by rule", http.MethodGet, "/v1/test/conflict", nil, nil, 409, CodeConflict, ""},
		{"unclassified", http.MethodGet, "/v1/test/unclassified", nil, nil, 500, CodeInternal, "/secret/path"},
		{"declared body over limit", http.MethodPost, "/v1/test/echo", json, strings.NewReader(`{"a":"` + strings.Repeat("x", 2000) + `"}`), 413, CodeTooLarge, ""},
		{"chunked body over limit", http.MethodPost, "/v1/test/echo", json, io.MultiReader(strings.NewReader(`{"a":"` + strings.Repeat("x", 2000) + `"}`)), 413, CodeTooLarge, ""},
		{"raised limit still holds", http.MethodPost, "/v1/test/big", nil, io.LimitReader(zeros{}, 2<<20), 413, CodeTooLarge, ""},
		{"malformed JSON", http.MethodPost, "/v1/test/echo", json, strings.NewReader(`{"a":`), 400, CodeInvalidJSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.header, tt.body)
			wantError(t, r, tt.status, tt.code)
			if tt.mustNotContain != "" && strings.Contains(string(r.body), tt.mustNotContain) {
				t.Fatalf("the answer leaks %q: %s", tt.mustNotContain, r.body)
			}
		})
	}
	t.Run("405 names the allowed methods", func(t *testing.T) {
		r := e.do(http.MethodDelete, "/healthz", nil, nil)
		if !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Fatalf("Allow %q", r.header.Get("Allow"))
		}
	})
	t.Run("raised limit lets a bigger body through", func(t *testing.T) {
		r := e.do(http.MethodPost, "/v1/test/big", nil, io.LimitReader(zeros{}, 500_000))
		if r.status != 200 || !strings.Contains(string(r.body), "500000") {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
	if !strings.Contains(e.logs.String(), "secret detail 42") {
		t.Fatal("the panic was not logged")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestMetricsBoundMethodLabel: the method is the client's free text; each new value
// would be a new series kept forever, so methods outside HTTP's registered set are
// counted as "other".
func TestMetricsBoundMethodLabel(t *testing.T) {
	e := newEnv(t)
	for _, m := range []string{"BREW", "X-RANDOM-1", "X-RANDOM-2"} {
		e.do(m, "/healthz", nil, nil)
	}
	e.do(http.MethodDelete, "/healthz", nil, nil)
	body := string(e.do(http.MethodGet, "/metrics", nil, nil).body)
	for _, bad := range []string{`method="BREW"`, `method="X-RANDOM-1"`} {
		if strings.Contains(body, bad) {
			t.Errorf("metrics carry the client's method %s", bad)
		}
	}
	for _, want := range []string{`method="other"`, `method="DELETE"`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
