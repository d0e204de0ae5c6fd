package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// DefaultWriteStallTimeout is how long a download may wait for its client to take
// bytes before it is abandoned (Config.WriteStallTimeout).
const DefaultWriteStallTimeout = 60 * time.Second

// StallGuard is the middleware that abandons a response whose client stops taking
// its bytes for Config.WriteStallTimeout: the write fails, the handler returns, and
// the connection (or HTTP/2 stream), its goroutine and the open storage read are
// let go. The content routes use it; a route of a registrar that streams a body
// should use it too. It must not guard a response that is meant to stay quiet for
// long (an event stream).
//
// http.Server's WriteTimeout cannot do this: it bounds the whole response, which
// would cut a large download on a slow but steady link. Here the deadline is moved
// before every write, so only time spent waiting on the client counts: a client must
// take one write's worth (up to 128 KiB) within the timeout. Over HTTP/1.1 a write
// deadline only fails a write that is blocked; over HTTP/2 it is a timer that resets
// the stream when it fires, blocked or not, so there it is cleared after every write,
// lest the server's own time between writes (a slow storage read) count as the
// client's.
func (s *Server) StallGuard() gin.HandlerFunc { return s.guardStalls }

func (s *Server) guardStalls(c *gin.Context) {
	d := s.cfg.WriteStallTimeout
	if d <= 0 {
		c.Next()
		return
	}
	w := &stallWriter{ResponseWriter: c.Writer, rc: http.NewResponseController(c.Writer), timeout: d, h2: c.Request.ProtoMajor >= 2}
	c.Writer = w
	defer func() {
		c.Writer = w.ResponseWriter
		if w.stallErr != nil {
			_ = c.Error(fmt.Errorf("the client took no bytes for %s; response abandoned: %w", d, w.stallErr))
		}
	}()
	c.Next()
	// What the handler wrote last may still be buffered (HTTP/2 keeps writes under
	// 4 KiB, HTTP/1.1 its bufio), and net/http flushes it after the handler returns:
	// that last flush is bounded too.
	if w.h2 {
		// Flushed here, under the deadline and disarmed after, while the stream is
		// open: a timer armed after the handler could outlive the stream and reset it
		// after it ended. A response with nothing written is left alone (a flush
		// would send its headers).
		if w.Written() && w.stallErr == nil {
			w.Flush()
		}
		return
	}
	// HTTP/1.1 clears the deadline itself once the request is done, so that it never
	// reaches the next request on the connection.
	w.arm()
}

// stallWriter moves the connection's write deadline timeout ahead before each write.
type stallWriter struct {
	gin.ResponseWriter
	rc          *http.ResponseController
	timeout     time.Duration
	h2          bool      // an HTTP/2 stream: the deadline is cleared after each write
	unsupported bool      // the connection has no write deadline (not a net/http server)
	deadline    time.Time // the last one set
	stallErr    error     // the first write error met at or past the deadline
}

func (w *stallWriter) arm() {
	if w.unsupported {
		return
	}
	dl := time.Now().Add(w.timeout)
	if err := w.rc.SetWriteDeadline(dl); err != nil {
		// ErrNotSupported (a test recorder), or a stream already ended: either way
		// there is nothing to bound.
		w.unsupported = errors.Is(err, http.ErrNotSupported)
		return
	}
	w.deadline = dl
}

// disarm clears an HTTP/2 stream's deadline once a write has returned.
func (w *stallWriter) disarm() {
	if !w.h2 || w.unsupported || w.deadline.IsZero() {
		return
	}
	_ = w.rc.SetWriteDeadline(time.Time{})
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.arm()
	n, err := w.ResponseWriter.Write(p)
	if err != nil && w.stallErr == nil && !w.deadline.IsZero() && !time.Now().Before(w.deadline) {
		w.stallErr = err
	}
	w.disarm()
	return n, err
}

// WriteString is implemented so that io.WriteString cannot bypass Write.
func (w *stallWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

func (w *stallWriter) Flush() {
	w.arm()
	w.ResponseWriter.Flush()
	w.disarm()
}
