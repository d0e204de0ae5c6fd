package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/httpapi"
)

// TestGracefulShutdownOrder runs serve in-process with a hosted extension and checks
// the shutdown order the engine relies on: OnShutdownStart first, then the running
// request completes, then Shutdown (the flush) runs, after the HTTP server stopped.
func TestGracefulShutdownOrder(t *testing.T) {
	p := newInProcess(t)
	cfg, sec, log, logs := p.cfg, p.sec, p.log, p.logs

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

// TestShutdownEndsEventStreams: an open Server-Sent Events stream must not hold the
// graceful shutdown until its timeout. OnShutdownStart ends the streams, so the HTTP
// server drains without the "requests still running" warning and the client sees its
// stream end.
func TestShutdownEndsEventStreams(t *testing.T) {
	p := newInProcess(t, "--shutdown-timeout", "3s")
	cfg, sec, log, logs := p.cfg, p.sec, p.log, p.logs
	auth, err := httpapi.NewAuthority(sec.TokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := auth.Mint(httpapi.TokenSpec{Role: httpapi.RoleAdmin, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, sec, log) }()
	addr := waitListening(t, logs)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

	req, _ := http.NewRequest("POST", "https://"+addr+"/v1/conferences", strings.NewReader(`{"id":"sse","organizer":"sip:o@contoso.com"}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create conference: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", "https://"+addr+"/v1/conferences/sse/events", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}

	stop() // as SIGTERM does
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("the event stream broke instead of ending: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "requests still running") {
		t.Fatalf("the open event stream held the shutdown until its timeout:\n%s", logs.String())
	}
}

// TestAssembleReportsTheFailingPart: a hosted part that fails to start is named by
// its position, and what it opened before is released.
func TestAssembleReportsTheFailingPart(t *testing.T) {
	cfg, sec, log := bootstrapInProcess(t, "--listen", "127.0.0.1:0")
	saved := extensionFactories
	t.Cleanup(func() { extensionFactories = saved })
	boom := errors.New("boom")
	extensionFactories = append(append([]ExtensionFactory(nil), saved...), func(context.Context, *Runtime) (Extension, error) {
		return Extension{}, boom
	})
	_, err := assemble(context.Background(), cfg, sec, log)
	want := fmt.Sprintf("starting hosted part %d: boom", len(saved))
	if !errors.Is(err, boom) || err.Error() != want {
		t.Fatalf("assemble = %v, want %q", err, want)
	}
}

// TestPortInUse: a taken address fails the start at once, with a hint, before the
// storage is opened.
func TestPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p := newInProcess(t, "--listen", taken.Addr().String())
	err = serve(context.Background(), p.cfg, p.sec, p.log)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("serve on a taken address: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p.work, "data", "store")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the store was opened before the address was: %v", err)
	}
}

// inProcess is a configured, bootstrapped lecternd in a fresh data folder, for tests
// that run serve in this process; args are more flags ("--listen 127.0.0.1:0" and the
// data folder are given). logs holds its JSON log lines.
type inProcess struct {
	cfg  Config
	sec  *secrets
	log  *slog.Logger
	logs *lockedBuf
	work string
}

func newInProcess(t *testing.T, args ...string) *inProcess {
	t.Helper()
	work := t.TempDir()
	cfg, err := loadConfig(append([]string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(work, "data")}, args...),
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
	return &inProcess{cfg: cfg, sec: sec, log: log, logs: logs, work: work}
}
