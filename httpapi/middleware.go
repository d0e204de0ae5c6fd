package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	ctxServer    = "lectern.server"
	ctxOrigBody  = "lectern.body"
	headerReqID  = "X-Request-Id"
	routeNoMatch = "unmatched"
)

func serverOf(c *gin.Context) *Server {
	v, _ := c.Get(ctxServer)
	s, _ := v.(*Server)
	return s
}

// observe is the outermost middleware: it gives every request an id, and after the
// chain has run (panics included, see recoverer) logs it and records metrics. The log
// line carries the route template, not the path or the query: the query of a signed
// URL holds its signature, and the Authorization header is never looked at here.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Set(ctxServer, s)
	id := newRequestID()
	c.Header(headerReqID, id)
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()

	c.Next()

	d := time.Since(start)
	status := c.Writer.Status()
	route := c.FullPath()
	if route == "" {
		route = routeNoMatch
	}
	size := max(c.Writer.Size(), 0)
	s.metrics.observe(c.Request.Method, route, status, d, size)

	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status < 400 && quietRoutes[route]:
		// Probes and scrapes every few seconds would drown the log.
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("id", id),
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.Int("bytes", size),
		slog.String("remote", c.ClientIP()),
	}
	if cl := ClaimsOf(c); cl != nil {
		// The token id identifies the token in an audit without revealing it.
		attrs = append(attrs, slog.String("role", string(cl.Role)), slog.String("token_id", cl.ID))
	}
	if err := c.Errors.Last(); err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	logRecord(c.Request.Context(), s.logger.Handler(), level, "request", attrs)
}

// logRecord is Logger.LogAttrs without the source lookup: LogAttrs walks the stack
// (runtime.Callers) for every record, whether or not the handler prints the source,
// which was 1.7 % of the server's CPU in the small-GET benchmark. The request log's
// source is always this middleware, so the line loses nothing.
func logRecord(ctx context.Context, h slog.Handler, level slog.Level, msg string, attrs []slog.Attr) {
	if !h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}

var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// recoverer turns a panic into 500 internal. It is hand-written rather than
// gin.Recovery because gin's logs its own text format with a dump of the request to a
// writer; this one logs through slog, without the request, and answers in the JSON
// error shape.
func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r) // the deliberate way to abort a response; net/http handles it
		}
		s.logger.Error("panic in handler", slog.String("route", c.FullPath()),
			slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
		if c.Writer.Written() {
			// Headers are out; the only honest thing left is to cut the response.
			c.Abort()
			panic(http.ErrAbortHandler)
		}
		_ = c.Error(fmt.Errorf("panic: %v", r))
		writeError(c, CodeInternal, "internal error", 0)
	}()
	c.Next()
}

// BodyLimit caps the request body at n bytes (n < 0: no cap) for the routes it is
// applied to. It replaces the server-wide default set by Config.Limits.MaxBodyBytes, so
// a route group that takes bigger bodies (uploads) can raise it. A declared length
// over the limit is refused at once; a chunked body is cut by http.MaxBytesReader,
// which handlers see as an error that Fail maps to 413 too_large.
func BodyLimit(n int64) gin.HandlerFunc { return bodyLimit(n, true) }

// defaultBodyLimit is the server-wide cap. Unlike BodyLimit it does not refuse a
// declared length at once: it runs before the route's own middleware, and a route
// group that raises the limit (tus PATCHes of many MiB) must get the chance to. It
// only caps what a handler reads, which handlers map to 413 as well.
func defaultBodyLimit(n int64) gin.HandlerFunc { return bodyLimit(n, false) }

func bodyLimit(n int64, eager bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if eager && n >= 0 && c.Request.ContentLength > n {
			if c.Request.ProtoMajor == 1 {
				// The unread body would otherwise be read (and thrown away) before the
				// connection could serve another request. Over HTTP/2 the stream is
				// reset on its own, and Go turns this header into a GOAWAY for the
				// whole connection, which makes some clients (curl 7.88) drop the
				// 413's body.
				c.Header("Connection", "close")
			}
			Fail(c, Errorf(CodeTooLarge, "request body is %d bytes, over the limit of %d", c.Request.ContentLength, n))
			return
		}
		orig, ok := c.Get(ctxOrigBody)
		if !ok {
			orig = c.Request.Body
			c.Set(ctxOrigBody, orig)
		}
		body, _ := orig.(io.ReadCloser)
		if n >= 0 && body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, body, n)
		} else {
			c.Request.Body = body
		}
		c.Next()
	}
}

func (s *Server) noRoute(c *gin.Context) {
	Fail(c, Errorf(CodeNotFound, "no such route"))
}

func (s *Server) noMethod(c *gin.Context) {
	Fail(c, Errorf(CodeMethodNotAllowed, "method %s is not allowed here", c.Request.Method))
}
