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
// take one write's worth (up to 128 KiB) within the timeout.
func (s *Server) StallGuard() gin.HandlerFunc { return s.guardStalls }

func (s *Server) guardStalls(c *gin.Context) {
	d := s.cfg.WriteStallTimeout
	if d <= 0 {
		c.Next()
		return
	}
	w := &stallWriter{ResponseWriter: c.Writer, rc: http.NewResponseController(c.Writer), timeout: d}
	c.Writer = w
	defer func() {
		c.Writer = w.ResponseWriter
		// net/http flushes the end of the body after the handler returns, and then
		// clears the deadline (so it never reaches the next request on the
		// connection): that last flush is bounded too.
		if w.stallErr != nil {
			_ = c.Error(fmt.Errorf("the client took no bytes for %s; response abandoned: %w", d, w.stallErr))
		}
		w.arm()
	}()
	c.Next()
}

// stallWriter moves the connection's write deadline timeout ahead before each write.
type stallWriter struct {
	gin.ResponseWriter
	rc          *http.ResponseController
	timeout     time.Duration
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

func (w *stallWriter) Write(p []byte) (int, error) {
	w.arm()
	n, err := w.ResponseWriter.Write(p)
	if err != nil && w.stallErr == nil && !w.deadline.IsZero() && !time.Now().Before(w.deadline) {
		w.stallErr = err
	}
	return n, err
}

// WriteString is implemented so that io.WriteString cannot bypass Write.
func (w *stallWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

func (w *stallWriter) Flush() {
	w.arm()
	w.ResponseWriter.Flush()
}
