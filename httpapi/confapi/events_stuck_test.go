package confapi_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/confapi"
)

// stalledAt is how many bytes a connection of a stuckEnv has been asked to write when
// it reports that its handler is writing the big event: everything before it is small.
const stalledAt = 8 << 10

// bigEvent is an event's data larger than all the buffers between the handler and a
// client that does not read (both ends' socket buffers are made small), so that the
// handler blocks writing it.
var bigEvent = strings.Repeat("x", 2<<20)

// stuckEnv is an env whose event streams have the given heartbeat, whose server tells
// when a handler of an event stream returns (ended) and when a connection is asked to
// write past stalledAt bytes (writing), and whose connections have small send buffers.
type stuckEnv struct {
	*env
	ended   chan struct{}
	writing chan struct{}
}

func newStuckStreamEnv(t *testing.T, heartbeat time.Duration) *stuckEnv {
	t.Helper()
	d, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bucket := storage.NewBucket(d)
	hub := events.NewHub(64)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var kek [32]byte
	rand.Read(kek[:])
	secret := make([]byte, 32)
	rand.Read(secret)
	eng, err := conference.New(conference.Config{Bucket: bucket, KEK: kek, Events: hub, Logger: logger, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.NewAuthority(secret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := httpapi.New(httpapi.Config{Content: bucket, Auth: auth, Logger: logger,
		Routes: []httpapi.RouteRegistrar{confapi.Routes(confapi.Config{Engine: eng, Events: hub, Heartbeat: heartbeat})}})
	if err != nil {
		t.Fatal(err)
	}
	se := &stuckEnv{ended: make(chan struct{}, 16), writing: make(chan struct{}, 16)}
	h := s.Handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/events") {
			se.ended <- struct{}{}
		}
	}))
	srv.Listener = &smallBufferListener{Listener: srv.Listener, writing: se.writing}
	srv.StartTLS()
	stop := sync.OnceFunc(func() {
		srv.CloseClientConnections()
		srv.Close()
		eng.Close(context.Background())
		bucket.Close()
	})
	t.Cleanup(stop)
	se.env = &env{t: t, srv: srv, engine: eng, auth: auth, hub: hub, server: s, stop: stop, kek: kek, secret: secret}
	return se
}

// smallBufferListener gives each connection a small send buffer, and tells on writing
// when one is first asked to write past stalledAt bytes.
type smallBufferListener struct {
	net.Listener
	writing chan<- struct{}
}

func (l *smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetWriteBuffer(8 << 10); err != nil {
			return nil, err
		}
	}
	return &watchedConn{Conn: c, writing: l.writing}, nil
}

type watchedConn struct {
	net.Conn
	writing chan<- struct{}
	asked   atomic.Int64
}

func (c *watchedConn) Write(p []byte) (int, error) {
	if n := c.asked.Add(int64(len(p))); n > stalledAt && n-int64(len(p)) <= stalledAt {
		c.writing <- struct{}{} // buffered: a test reads it
	}
	return c.Conn.Write(p)
}

// stuckStream opens an event stream with token on a connection whose client then
// reads nothing, and returns once its handler is blocked writing the big event.
func (se *stuckEnv) stuckStream(t *testing.T, token string) {
	t.Helper()
	raw, err := net.Dial("tcp", se.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.(*net.TCPConn).SetReadBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(se.srv.Certificate())
	conn := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /v1/conferences/live/events HTTP/1.1\r\nHost: lectern\r\nAuthorization: Bearer %s\r\n\r\n", token)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the stream to be stuck: %d", resp.StatusCode)
	}
	se.hub.Publish("live", events.Event{Kind: events.SlideSetChanged, Data: bigEvent})
	select {
	case <-se.writing:
	case <-time.After(30 * time.Second): // only keeps a broken server from hanging the test
		t.Fatal("the handler never began writing the big event")
	}
}

// TestStuckEventStreamIsDroppedAndKeepsItsPlace: a client that stops reading must
// neither hold its handler for ever nor escape the per-token cap. Its handler, blocked
// writing to it, keeps the stream's place under the cap even after the stream lags
// (before, the lag freed the place at once, so that one token held any number of
// blocked handlers), and it is dropped when a write waits more than a few heartbeats
// (before, there was no write deadline: the handler stayed until the connection died,
// past its token's expiry).
func TestStuckEventStreamIsDroppedAndKeepsItsPlace(t *testing.T) {
	tests := []struct {
		name      string
		heartbeat time.Duration
		check     func(t *testing.T, se *stuckEnv, token string)
	}{
		{"a lagged stream keeps its place while its handler runs", time.Hour, func(t *testing.T, se *stuckEnv, token string) {
			for range 65 { // one more than the hub's buffer: the big event leaves it
				se.hub.Publish("live", events.Event{Kind: events.SlideSetChanged})
			}
			// The handler is still blocked (its write deadline is hours away).
			resp, _ := se.tryStream(t, token)
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("another stream of the token whose stuck stream lagged: %d, want 429", resp.StatusCode)
			}
		}},
		{"a client that stops reading is dropped", 50 * time.Millisecond, func(t *testing.T, se *stuckEnv, token string) {
			select {
			case <-se.ended:
			case <-time.After(30 * time.Second):
				// A few heartbeats are enough, and the 5 s crypto/tls gives the
				// close_notify of the broken connection.
				t.Fatal("the handler of a client that reads nothing is still writing to it")
			}
			resp, _ := se.tryStream(t, token)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("a stream after the stuck one was dropped: %d, want 200", resp.StatusCode)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			se := newStuckStreamEnv(t, tt.heartbeat)
			_, attendee := se.conference("live")
			se.hub.SetLimits(events.Limits{PerKey: 1})
			se.stuckStream(t, attendee)
			tt.check(t, se, attendee)
		})
	}
}
