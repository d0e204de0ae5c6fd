package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// Content download (the components role). It serves the stored ciphertext as is; it
// holds no keys. Range, conditional GET (If-None-Match, If-Modified-Since, If-Match,
// If-Unmodified-Since, If-Range) and HEAD are left to http.ServeContent, which
// implements RFC 9110 fully and is well tested; this file only supplies an
// io.ReadSeeker that turns seeks into ranged storage Gets, so nothing is buffered.

func (s *Server) registerContent() {
	scope := ConferenceParam("conf")
	h := []gin.HandlerFunc{validateContentPath, s.requireContent(scope), s.guardStalls, s.serveContent}
	s.api.GET("/content/:org/:conf/:name", h...)
	s.api.HEAD("/content/:org/:conf/:name", h...)
}

// validateContentPath refuses every path element that is not of its exact form before
// anything else looks at it, so that no storage key is ever built from ".." or a
// backslash (400 invalid_id, never a 500 and never a lookup).
var validateContentPath = ValidateParams(
	ParamCheck{"org", layout.ValidateOrganizerHash},
	ParamCheck{"conf", layout.ValidateConferenceID},
	ParamCheck{"name", layout.ValidateContentName},
)

func (s *Server) serveContent(c *gin.Context) {
	ctx := c.Request.Context()
	key := layout.Conference{OrgHash: c.Param("org"), ID: c.Param("conf")}.ContentKey(c.Param("name"))
	NormalizeRange(c.Request.Header)
	rs := &rangeReader{ctx: ctx, bucket: s.content, key: key}
	rs.hintStart, rs.hintEnd, rs.hinted = singleRangeHint(c.GetHeader("Range"))
	defer rs.Close()
	// Content files are written once under random names and never replaced, so the
	// attributes read here stay true while the body is streamed.
	attrs, err := s.openContent(ctx, c.Request, rs)
	if err != nil {
		Fail(c, err)
		return
	}
	rs.size = attrs.Size
	h := c.Writer.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "private")
	h.Set("X-Content-Type-Options", "nosniff")
	if etag := etagOf(attrs.Version); etag != "" {
		h.Set("ETag", etag)
	}
	w := &jsonErrorWriter{ResponseWriter: c.Writer, size: attrs.Size}
	w.rangeMessage = prepareRange(c.Request.Header, attrs.Size, s.cfg.Limits.MaxRanges)
	http.ServeContent(w, c.Request, "", attrs.ModTime, rs)
	if err := rs.firstErr(); err != nil {
		// The status line is already out; the body was cut short. Log and count.
		_ = c.Error(err)
		s.metrics.observeStorageError(err)
	}
}

// openContent learns the object's attributes with as few storage requests as the
// request allows. A plain GET, or one with a single "bytes=a-b" or "bytes=a-" range,
// opens the body at once (one request, whose attributes describe the whole object),
// since it will almost surely be sent. A conditional GET (likely answered 304), HEAD,
// and a range whose start depends on the size (suffix, several ranges) only Stat, so
// that no body is opened to be abandoned.
func (s *Server) openContent(ctx context.Context, r *http.Request, rs *rangeReader) (storage.Attributes, error) {
	conditional := r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" ||
		r.Header.Get("If-Match") != "" || r.Header.Get("If-Unmodified-Since") != ""
	unhintedRange := r.Header.Get("Range") != "" && !rs.hinted
	if conditional || unhintedRange || r.Method == http.MethodHead {
		return s.content.Stat(ctx, rs.key)
	}
	attrs, err := rs.openAt(rs.hintStart)
	if errors.Is(err, storage.ErrInvalidRange) {
		// The range starts past the end: ServeContent answers 416 with the size.
		return s.content.Stat(ctx, rs.key)
	}
	return attrs, err
}

// etagOf makes a strong ETag from a storage version: the version itself when it is
// made of ETag characters, else a hash of it (an S3 ETag comes with its own quotes).
func etagOf(version string) string {
	if version == "" {
		return ""
	}
	v := strings.Trim(version, `"`)
	ok := len(v) > 0 && len(v) <= 128
	for i := 0; ok && i < len(v); i++ {
		ok = v[i] >= 0x23 && v[i] <= 0x7e || v[i] == 0x21
	}
	if !ok {
		sum := sha256.Sum256([]byte(version))
		v = hex.EncodeToString(sum[:16])
	}
	return `"` + v + `"`
}

// singleRangeHint returns [start, end) for a Range header of one range "bytes=a-b"
// (end -1 for "bytes=a-"), so that the storage Get asks for just those bytes instead
// of the whole object (on S3, an open GET abandoned early costs a connection). It is
// only a hint: ServeContent alone decides what is sent, and a read outside the hint
// opens a new Get. ok is false for no Range header, suffix ranges, several ranges and
// nonsense.
func singleRangeHint(h string) (start, end int64, ok bool) {
	specs, found := RangeSpecs(h)
	if !found || len(specs) != 1 {
		return 0, 0, false
	}
	a, b, found := strings.Cut(specs[0], "-")
	if !found || a == "" {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if b == "" {
		return start, -1, true
	}
	last, err := strconv.ParseInt(b, 10, 64)
	if err != nil || last < start || last == 1<<63-1 {
		return 0, 0, false
	}
	return start, last + 1, true
}

// rangeReader is an io.ReadSeeker over a stored object. Seek only moves the position;
// Read opens a ranged Get at the position when the open one is elsewhere.
//
// It is used from two goroutines: for multipart/byteranges, http.ServeContent seeks
// and reads it from a goroutine of its own, which may still be inside Read when
// ServeContent returns (the client left) and the handler closes the reader. So every
// method holds mu, and after Close, Read and Seek fail and never open a Get. Close
// waits for a Read in flight, which is one storage read; the request's context, which
// the Get runs under, ends it when the client has gone.
type rangeReader struct {
	// Set before the reader is shared, never changed after.
	ctx                context.Context
	bucket             *storage.Bucket
	key                string
	size               int64
	hinted             bool // hintStart and hintEnd (-1: to the end) are set
	hintStart, hintEnd int64

	mu     sync.Mutex // guards the fields below
	closed bool
	pos    int64
	rc     io.ReadCloser
	rcPos  int64 // the position rc reads from next
	err    error // the first storage error, for the log
}

// errReaderClosed is what Read and Seek answer after Close.
var errReaderClosed = errors.New("content reader closed")

func (r *rangeReader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errReaderClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	r.pos = abs
	return abs, nil
}

// openAt is open for the one caller outside Read (before ServeContent shares r).
func (r *rangeReader) openAt(pos int64) (storage.Attributes, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return storage.Attributes{}, errReaderClosed
	}
	return r.open(pos)
}

// firstErr is the first storage error a Read met, for the log.
func (r *rangeReader) firstErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// open starts a Get at pos, for the hinted range when pos is in it, else to the end.
// r.mu is held.
func (r *rangeReader) open(pos int64) (storage.Attributes, error) {
	r.closeBody()
	length := int64(-1)
	if r.hinted && r.hintEnd >= 0 && pos >= r.hintStart && pos < r.hintEnd {
		length = r.hintEnd - pos // a length past the end is cut by the backend
	}
	rc, attrs, err := r.bucket.Get(r.ctx, r.key, pos, length)
	if err != nil {
		return attrs, err
	}
	r.rc, r.rcPos = rc, pos
	return attrs, nil
}

func (r *rangeReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errReaderClosed
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	fresh := false
	if r.rc == nil || r.rcPos != r.pos {
		if _, err := r.open(r.pos); err != nil {
			r.err = err
			return 0, err
		}
		fresh = true
	}
	n, err := r.rc.Read(p)
	r.pos += int64(n)
	r.rcPos += int64(n)
	if errors.Is(err, io.EOF) {
		r.closeBody()
		switch {
		case r.pos >= r.size:
			return n, io.EOF
		case n == 0 && fresh:
			// A fresh Get that yields nothing before the known size: the object is
			// shorter than its attributes said. Never loop reopening it.
			r.err = fmt.Errorf("content %q ended at %d of %d bytes: %w", r.key, r.pos, r.size, io.ErrUnexpectedEOF)
			return 0, r.err
		}
		return n, nil // a hinted range ended; the next Read opens the rest
	}
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// closeBody closes the open Get, if any. r.mu is held.
func (r *rangeReader) closeBody() {
	if r.rc != nil {
		_ = r.rc.Close()
		r.rc = nil
	}
}

// Close closes the open Get; later Reads and Seeks fail.
func (r *rangeReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.closeBody()
	return nil
}

// jsonErrorWriter gives the errors http.ServeContent writes itself (416, 412) the JSON
// error shape instead of its plain text, keeping the headers it set (Content-Range).
type jsonErrorWriter struct {
	gin.ResponseWriter
	swallow      bool
	rangeMessage string // the message of a 416, when more specific than errorMessage's
	size         int64  // of the content, for the Content-Range of a 416
}

func (w *jsonErrorWriter) WriteHeader(status int) {
	if status < 400 {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	code := CodeBadRequest
	switch status {
	case http.StatusRequestedRangeNotSatisfiable:
		code = CodeRangeNotSatisfiable
	case http.StatusPreconditionFailed:
		code = CodePreconditionFailed
	case http.StatusInternalServerError:
		code = CodeInternal
	}
	msg := errorMessage(status)
	if status == http.StatusRequestedRangeNotSatisfiable {
		if w.rangeMessage != "" {
			msg = w.rangeMessage
		}
		// ServeContent sends the size only when the range starts past the end; a
		// malformed range gets it too (RFC 9110 §15.5.17).
		if w.Header().Get("Content-Range") == "" {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(w.size, 10))
		}
	}
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: msg, Status: status}})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.ResponseWriter.WriteHeader(status)
	_, _ = w.ResponseWriter.Write(body)
	w.swallow = true
}

func errorMessage(status int) string {
	switch status {
	case http.StatusRequestedRangeNotSatisfiable:
		return "range not satisfiable"
	case http.StatusPreconditionFailed:
		return "precondition failed: the content does not match If-Match or If-Unmodified-Since"
	}
	return strings.ToLower(http.StatusText(status))
}

func (w *jsonErrorWriter) Write(p []byte) (int, error) {
	if w.swallow {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom gives http.ServeContent's copy of the body a pooled buffer large enough to
// carry a small file in one storage read and one Write, instead of io.Copy's fresh
// 32 KiB buffer per request and three reads of a 64 KiB file (the small-GET path,
// docs/benchmarks-server.md). Every byte still goes through Write.
func (w *jsonErrorWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	return io.CopyBuffer(writerOnly{w}, r, *bp)
}

// writerOnly hides ReadFrom, so that io.CopyBuffer uses the buffer it is given.
type writerOnly struct{ io.Writer }

// copyBuffers holds the body copy buffers: 128 KiB, a little over the largest small
// file a slide deck typically references.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// WriteString is implemented so that io.WriteString cannot bypass Write.
func (w *jsonErrorWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// NormalizeRange applies RFC 9110 §14.2 to the request's Range header where
// http.ServeContent does not: a range unit other than bytes (or a header with no unit
// at all) is ignored, so the whole representation is sent, and the unit is matched
// without regard to case ("Bytes=0-9" is a byte range). A malformed byte range stays,
// and is answered 416.
func NormalizeRange(h http.Header) {
	v := h.Get("Range")
	if v == "" {
		return
	}
	unit, spec, ok := strings.Cut(v, "=")
	unit = strings.TrimSpace(unit)
	switch {
	case !ok || !strings.EqualFold(unit, "bytes"):
		h.Del("Range")
	case unit != "bytes":
		h.Set("Range", "bytes="+spec)
	}
}
