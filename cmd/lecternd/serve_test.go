package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/httpapi"
)

// TestGracefulShutdownOrder runs serve in-process with a hosted extension and checks
// the shutdown order the engine relies on: OnShutdownStart first, then the running
// request completes, then Shutdown (the flush) runs, after the HTTP server stopped.
func TestGracefulShutdownOrder(t *testing.T) {
	work := t.TempDir()
	cfg, err := loadConfig([]string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(work, "data")},
		func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuf{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	sec, err := bootstrap(cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu     sync.Mutex
		events []string
	)
	record := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	entered, release := make(chan struct{}), make(chan struct{})
	saved := extensionFactories
	t.Cleanup(func() { extensionFactories = saved })
	extensionFactories = append(extensionFactories, func(ctx context.Context, rt *Runtime) (Extension, error) {
		if len(rt.KEK) != 32 || rt.Storage == nil || rt.Auth == nil {
			t.Errorf("runtime %+v incomplete", rt.Config)
		}
		return Extension{
			Name: "test engine",
			Routes: func(s *httpapi.Server, api *gin.RouterGroup) {
				api.GET("/slow", func(c *gin.Context) {
					close(entered)
					<-release
					record("request done")
					c.String(200, "done")
				})
			},
			OnShutdownStart: func() { record("shutdown start") },
			Shutdown: func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("the flush has no deadline")
				}
				record("flush")
				return nil
			},
		}, nil
	})

	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, sec, log) }()
	addr := waitListening(t, logs)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	got := make(chan string, 1)
	go func() {
		resp, err := client.Get("https://" + addr + "/v1/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	stop() // as SIGTERM does
	// Shutdown has begun once OnShutdownStart ran; only then let the request finish.
	for !hasEvent(&mu, &events, "shutdown start") {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if body := <-got; body != "done" {
		t.Fatalf("the running request was cut: %q", body)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(events, ",") != "shutdown start,request done,flush" {
		t.Fatalf("order %v", events)
	}
}

func hasEvent(mu *sync.Mutex, events *[]string, e string) bool {
	mu.Lock()
	defer mu.Unlock()
	for _, x := range *events {
		if x == e {
			return true
		}
	}
	return false
}

func waitListening(t *testing.T, logs *lockedBuf) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range bytes.Split([]byte(logs.String()), []byte("\n")) {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(l, &rec) == nil && rec.Msg == "listening" {
				return rec.Addr
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not listening:\n%s", logs.String())
	return ""
}
