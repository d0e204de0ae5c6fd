package confapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/confapi"
)

// TestStalledPlainDownloadIsAbandoned: the decrypting route holds an open storage
// read and a decryptor for as long as its response lasts; a client that stops reading
// must not keep them for ever. With a stall timeout of 1 s the stalled requests end
// (the in-flight gauge returns to 0) and their bodies are cut short; a reading client
// gets the whole plaintext.
func TestStalledPlainDownloadIsAbandoned(t *testing.T) {
	e := newStallEnv(t, time.Second)
	_, attendee := e.conference("stall")
	// Larger than the loopback socket buffers hold, so that the server's writes block.
	data := make([]byte, 32<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	st, err := e.engine.StoreContent(context.Background(), "stall", conference.SlideContent, "png", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/conferences/stall/content/" + st.Name + "/plain"

	addr := e.srv.Listener.Addr().String()
	var stalled []*tls.Conn
	for range 3 {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nLectern-Key: %s\r\n\r\n", path, addr, attendee, st.Key.Hex())
		stalled = append(stalled, conn) // and never read, for now
	}
	deadline := time.Now().Add(20 * time.Second) // generous: a bound, not a measure
	for inFlight(t, e.server) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s, %v requests are still in flight: stalled downloads are held open", inFlight(t, e.server))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, conn := range stalled {
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		if n, err := io.Copy(io.Discard, conn); err == nil && n > int64(len(data)) {
			t.Fatalf("stalled download %d: all %d bytes arrived after the server gave up", i, n)
		}
	}
	r := e.do("GET", path, attendee, "", nil, "Lectern-Key", st.Key.Hex())
	if r.status != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("a reading client: status %d, %d bytes", r.status, len(r.body))
	}
}

// inFlight reads the server's in-flight request gauge.
func inFlight(t *testing.T, s *httpapi.Server) float64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "lectern_http_requests_in_flight" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no lectern_http_requests_in_flight gauge")
	return 0
}

// newStallEnv is newEnv's server with a write stall timeout.
func newStallEnv(t *testing.T, stall time.Duration) *env {
	t.Helper()
	dir := t.TempDir()
	var kek [32]byte
	rand.Read(kek[:])
	secret := make([]byte, 32)
	rand.Read(secret)
	d, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	bucket := storage.NewBucket(d)
	t.Cleanup(func() { _ = bucket.Close() })
	hub := events.NewHub(64)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := conference.New(conference.Config{Bucket: bucket, KEK: kek, Events: hub, Logger: logger, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	auth, err := httpapi.NewAuthority(secret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := httpapi.New(httpapi.Config{Content: bucket, Auth: auth, Logger: logger, WriteStallTimeout: stall,
		Routes: []httpapi.RouteRegistrar{confapi.Routes(confapi.Config{Engine: eng, Events: hub})}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, engine: eng, auth: auth, hub: hub, server: s, stop: srv.Close, kek: kek, secret: secret, dir: dir}
}
