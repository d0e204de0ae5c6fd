package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHandlerCountWaitsForRunningHandlers: the shutdown's wait after http.Server.Close
// (which does not wait for handlers) sees a handler still running, and sees it end.
func TestHandlerCountWaitsForRunningHandlers(t *testing.T) {
	h := &handlerCount{}
	entered, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(h.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})))
	defer srv.Close()
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	if n := h.waitIdle(20 * time.Millisecond); n != 1 {
		t.Fatalf("waitIdle with a handler blocked = %d, want 1", n)
	}
	close(release)
	if n := h.waitIdle(time.Minute); n != 0 {
		t.Fatalf("waitIdle after the handler returned = %d, want 0", n)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
