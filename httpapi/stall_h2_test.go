package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// slowDriver: every body read pauses once, for pause, after its first MiB: the
// server (its storage), not the client, is slow between two writes.
// slowDriver pauses once in every body it serves, after its first MiB.
type slowDriver struct {
	storage.Driver
	pause time.Duration
}

type slowBody struct {
	io.ReadCloser
	pause  time.Duration
	read   int64
	paused bool
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.read >= 1<<20 && !b.paused {
		b.paused = true
		time.Sleep(b.pause)
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	return n, err
}

func (d slowDriver) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := d.Driver.Get(ctx, key, off, n)
	if err != nil {
		return rc, a, err
	}
	return &slowBody{ReadCloser: rc, pause: d.pause}, a, nil
}

// TestZZStallCountsServerTime: a client that reads all the time must get the whole
// body, however long the server itself takes between two writes. Over HTTP/1.1 it
// does; over HTTP/2 the stream's write deadline is a timer that fires while the
// handler is reading storage, and the stream is reset.
// TestStallCountsOnlyTheClientsTime: a client that reads all the time is not cut
// when the server itself pauses between writes longer than the stall timeout (a slow
// storage read), over HTTP/1.1 and HTTP/2. Over HTTP/2 a write deadline is a timer
// that resets the stream when it fires, whether or not a write waits.
func TestStallCountsOnlyTheClientsTime(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (4<<20)/16)
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1.1", true: "h2"}[h2], func(t *testing.T) {
			e := newEnvWithDriver(t, slowDriver{Driver: diskDriver(t), pause: 2 * time.Second},
				func(c *Config) { c.WriteStallTimeout = time.Second })
			srv := httptest.NewUnstartedServer(e.api.Handler())
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			e.put(layout.Conference{OrgHash: testOrg, ID: testConf}.ContentKey(testName), data)
			signed := e.auth.SignedContentURL(ContentPath(testOrg, testConf, testName), time.Hour)
			resp, err := srv.Client().Get(srv.URL + signed)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: a client reading all the time was cut: %d of %d bytes, %v", resp.Proto, len(got), len(data), err)
			}
		})
	}
}

// TestHeadOverH2LeavesNoLateReset: answers with no body over HTTP/2 (HEAD here) arm
// no stall timer that could outlive their stream and reset it after it ended, which a
// peer may treat as a connection error. (It happened to a few of 200 HEADs a run.)
func TestHeadOverH2LeavesNoLateReset(t *testing.T) {
	conn, fr, signed := h2ContentClient(t, []byte("hello"))
	const n = 200
	for i := 0; i < n; i++ {
		h2Request(t, fr, uint32(2*i+1), "HEAD", signed)
	}
	ended := map[uint32]time.Time{}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			break // the read deadline: no more frames
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				ended[f.StreamID] = time.Now()
			}
		case *http2.RSTStreamFrame:
			if at, ok := ended[f.StreamID]; ok {
				t.Errorf("stream %d: RST_STREAM %v received %v after the stream ended", f.StreamID, f.ErrCode, time.Since(at).Round(time.Millisecond))
			}
		}
	}
	if len(ended) != n {
		t.Fatalf("%d of %d HEAD answers ended", len(ended), n)
	}
}

// h2ContentClient serves data as the test content over HTTP/2 with a 500 ms stall
// timeout, and returns a raw HTTP/2 connection to it (preface and settings sent), its
// framer and the content's signed path.
func h2ContentClient(t *testing.T, data []byte, settings ...http2.Setting) (*tls.Conn, *http2.Framer, string) {
	t.Helper()
	e := newEnv(t, func(c *Config) { c.WriteStallTimeout = 500 * time.Millisecond })
	e.srv.Close()
	srv := httptest.NewUnstartedServer(e.api.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.put(layout.Conference{OrgHash: testOrg, ID: testConf}.ContentKey(testName), data)
	signed := e.auth.SignedContentURL(ContentPath(testOrg, testConf, testName), time.Hour)
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return conn, fr, signed
}

// h2Request sends a request with no body on stream id.
func h2Request(t *testing.T, fr *http2.Framer, id uint32, method, path string) {
	t.Helper()
	var buf []byte
	enc := hpack.NewEncoder(&sliceWriter{&buf})
	for _, f := range [][2]string{{":method", method}, {":scheme", "https"}, {":authority", "x"}, {":path", path}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf, EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
}

// sliceWriter appends to a byte slice (for the HPACK encoder).
type sliceWriter struct{ b *[]byte }

func (w *sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

// TestStalledTailOverH2IsCut: over HTTP/2 a small body (under 4 KiB, buffered by
// net/http until the handler returns) to a client that grants no window is still cut
// after the stall timeout: the guard flushes it under the deadline before the handler
// returns, instead of leaving net/http's final flush unbounded.
func TestStalledTailOverH2IsCut(t *testing.T) {
	conn, fr, signed := h2ContentClient(t, []byte("hello, a small file"), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	h2Request(t, fr, 1, "GET", signed)
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(4 * time.Second))
	status := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			break
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			status = f.StreamID == 1
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				t.Logf("stream reset (%v) after %v: the stalled client was let go", f.ErrCode, time.Since(start).Round(time.Millisecond))
				return
			}
		case *http2.DataFrame:
			if f.StreamID == 1 && f.StreamEnded() {
				t.Fatal("body sent with no window?")
			}
		}
	}
	t.Fatalf("headers sent: %v; a client taking no bytes was still held %v after the 500ms stall timeout (no RST_STREAM)", status, time.Since(start).Round(time.Millisecond))
}
