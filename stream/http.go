package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/prometheuscollector"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/httpapi"
)

// Response headers of the request that completes an upload (the last PATCH, or the
// POST of an empty or creation-with-upload upload).
const (
	HeaderContentURL  = "Lectern-Content-Url"
	HeaderContentKey  = "Lectern-Content-Key"
	HeaderContentName = "Lectern-Content-Name"
	HeaderContentSize = "Lectern-Content-Size"
	HeaderHandoutID   = "Lectern-Handout-Id"
)

// CORSAllowHeaders are the request headers a browser tus client sends (tusd's own
// list, which follows the protocol and its drafts, and the checksum extension this
// package adds), for httpapi's CORS preflight answers. Origin and
// X-HTTP-Method-Override are left out: browsers set the one themselves, and the
// routes are per method, so the other is dropped.
var CORSAllowHeaders = corsList(handler.DefaultCorsConfig.AllowHeaders, "Upload-Checksum")

// CORSExposeHeaders are the response headers a browser tus client must read: tusd's
// list, the expiration and checksum extensions' and the completion's Lectern-*.
var CORSExposeHeaders = corsList(handler.DefaultCorsConfig.ExposeHeaders,
	"Upload-Expires", "Tus-Checksum-Algorithm",
	HeaderContentURL, HeaderContentKey, HeaderContentName, HeaderContentSize, HeaderHandoutID)

func corsList(tusd string, more ...string) []string {
	var out []string
	for h := range strings.SplitSeq(tusd, ",") {
		switch h = strings.TrimSpace(h); h {
		case "", "Origin", "X-HTTP-Method-Override":
		default:
			out = append(out, h)
		}
	}
	return append(out, more...)
}

// basePath is where tusd believes it is mounted; its ids are "<conf>/uploads/<id>",
// which makes its Location header /v1/conferences/<conf>/uploads/<id>.
const basePath = "/v1/conferences/"

// Handler is the upload endpoint.
type Handler struct {
	cfg   Config
	store *store
	tus   *handler.UnroutedHandler
	mux   http.Handler
	lock  handler.Locker
}

// New returns the upload endpoint.
func New(cfg Config) (*Handler, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &store{cfg: cfg, log: cfg.Logger}
	comp := handler.NewStoreComposer()
	comp.UseCore(s)
	comp.UseTerminater(s)
	comp.UseLengthDeferrer(s)
	var inner handler.Locker
	if cfg.LocalLocksOnly {
		inner = memorylocker.New()
	} else {
		inner = newLeaseLocker(cfg)
	}
	locker := newGatedLocker(inner)
	s.locks = locker
	comp.UseLocker(locker)
	lim := cfg.Engine.Limits()
	t, err := handler.NewUnroutedHandler(handler.Config{
		StoreComposer:      comp,
		BasePath:           basePath,
		MaxSize:            max(lim.MaxContentFile, lim.MaxHandoutFile),
		DisableDownload:    true,
		AcquireLockTimeout: cfg.LockWait,
		// CORS is answered for every route by the server's middleware (httpapi,
		// lecternd --cors-origins), with the header lists below: tusd's own runs
		// after the presenter check, so a preflight (which carries no token) and a
		// 401 would never get its headers, and beside the middleware it would send
		// them twice.
		Cors:   &handler.CorsConfig{Disable: true},
		Logger: tusdLogger(cfg.Logger),
	})
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, store: s, tus: t, lock: locker}
	h.mux = t.Middleware(http.HandlerFunc(h.dispatch))
	return h, nil
}

// Extensions is the Tus-Extension value: tusd's own and the two this package adds.
func (h *Handler) Extensions() string { return h.tus.SupportedExtensions() + ",checksum,expiration" }

// Routes mounts the endpoint under /v1/conferences/:conf/uploads. Only presenters
// (and organizers) of the conference and admins may use it.
func (h *Handler) Routes() httpapi.RouteRegistrar {
	return func(s *httpapi.Server, api *gin.RouterGroup) {
		// tusd's counters (requests, errors, bytes received, uploads created,
		// finished, terminated) on the server's /metrics.
		if err := s.Registry().Register(prometheuscollector.New(h.tus.Metrics)); err != nil {
			h.cfg.Logger.Warn("upload metrics not registered", slog.String("error", err.Error()))
		}
		s.AddCORSHeaders(CORSAllowHeaders, CORSExposeHeaders)
		conf := httpapi.ConferenceParam("conf")
		presenter := s.Require(httpapi.RolePresenter, conf)
		confOK := httpapi.ValidateParams(httpapi.ParamCheck{Name: "conf", Check: layout.ValidateConferenceID})
		idOK := httpapi.ValidateParams(
			httpapi.ParamCheck{Name: "conf", Check: layout.ValidateConferenceID},
			httpapi.ParamCheck{Name: "upload", Check: ValidateUploadID})
		// tusd bounds the bodies itself (Upload-Length, Tus-Max-Size).
		body := httpapi.BodyLimit(-1)
		g := api.Group("/conferences/:conf/uploads")
		g.OPTIONS("", confOK, h.serve)
		g.POST("", confOK, presenter, body, h.serve)
		g.OPTIONS("/:upload", idOK, h.serve)
		g.HEAD("/:upload", idOK, presenter, h.serve)
		g.PATCH("/:upload", idOK, presenter, body, h.serve)
		g.DELETE("/:upload", idOK, presenter, h.serve)
		g.GET("/:upload/result", idOK, presenter, h.result)
	}
}

// serve hands a request to tusd with the upload id rewritten into tusd's form and the
// request's scope in its context.
func (h *Handler) serve(c *gin.Context) {
	r := c.Request
	rs := &reqState{conf: c.Param("conf"), method: r.Method, contentLength: r.ContentLength, client: r.Context()}
	if cl := httpapi.ClaimsOf(c); cl != nil {
		rs.owner = cl.Subject
		rs.admin = cl.Role == httpapi.RoleAdmin
	}
	rs.origin = "http://" + r.Host
	if r.TLS != nil {
		rs.origin = "https://" + r.Host
	}
	w := &respWriter{ResponseWriter: c.Writer, rs: rs, h: h, head: r.Method == http.MethodHead}
	defer w.flush()
	// The method override would let a POST to the collection act on an upload; the
	// routes are per method, so it is not needed.
	r.Header.Del("X-HTTP-Method-Override")
	if r.Method == http.MethodHead && r.Header.Get("Tus-Resumable") != "1.0.0" {
		// tusd checks Tus-Resumable on every request but GET and HEAD; tus 1.0 asks
		// for it on HEAD too (and so do docs/uploads.md).
		w.fail(handler.ErrUnsupportedVersion)
		return
	}
	if r.Method == http.MethodPatch && r.Header.Get("Tus-Resumable") == "1.0.0" &&
		r.Header.Get("Content-Type") != "application/offset+octet-stream" {
		w.fail(errContentType)
		return
	}
	if v := r.Header.Get("Upload-Checksum"); v != "" && (r.Method == http.MethodPatch || r.Method == http.MethodPost) {
		cs, err := parseChecksum(v)
		if err != nil {
			w.fail(err)
			return
		}
		rs.checksum = cs
	}
	r2 := r.WithContext(contextWith(r.Context(), rs))
	if r.Body != nil && r.Body != http.NoBody {
		// On tusd's copy only: net/http looks at the original request's body (its
		// own type) to decide what to do with what the handler left unread.
		r2.Body = &countingBody{ReadCloser: r.Body, n: &rs.bodyRead}
	}
	u := *r.URL
	u.Path = "/"
	if id := c.Param("upload"); id != "" {
		u.Path = "/" + tusID(rs.conf, id)
	}
	u.RawPath = ""
	r2.URL = &u
	h.mux.ServeHTTP(w, r2)
	if w.status >= 400 {
		if cause := rs.takeCause(w.status); cause != nil {
			httpapi.NoteError(c, cause)
		}
	}
}

func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/":
		h.tus.PostFile(w, r)
	case r.Method == http.MethodHead && r.URL.Path != "/":
		h.tus.HeadFile(w, r)
	case r.Method == http.MethodPatch && r.URL.Path != "/":
		h.tus.PatchFile(w, r)
	case r.Method == http.MethodDelete && r.URL.Path != "/":
		h.tus.DelFile(w, r)
	default:
		http.Error(w, "ERR_METHOD_NOT_ALLOWED: method not allowed", http.StatusMethodNotAllowed)
	}
}

// result answers GET …/uploads/:upload/result: the stored content's name, URL and key.
func (h *Handler) result(c *gin.Context) {
	conf, id := c.Param("conf"), c.Param("upload")
	// method HEAD: finish an upload whose completion was interrupted.
	// waitOnly: a client polling for the result must not interrupt its own PATCH.
	rs := &reqState{conf: conf, method: "HEAD", client: c.Request.Context(), waitOnly: true}
	if cl := httpapi.ClaimsOf(c); cl != nil {
		rs.owner, rs.admin = cl.Subject, cl.Role == httpapi.RoleAdmin
	}
	ctx := contextWith(c.Request.Context(), rs)
	lock, err := h.lock.NewLock(tusID(conf, id))
	if err == nil {
		// Bounded like tusd's own requests (AcquireLockTimeout = LockWait): a holder
		// that does not let go makes this a 423 to retry, not a request that hangs.
		lctx, cancel := context.WithTimeout(ctx, h.cfg.LockWait)
		err = lock.Lock(lctx, func() {})
		cancel()
		var te handler.Error
		if errors.As(err, &te) && te.ErrorCode == handler.ErrLockTimeout.ErrorCode {
			err = errLocked // the in-process locker's timeout, a 500 in tusd
		}
	}
	if err != nil {
		failTus(c, err)
		return
	}
	defer lock.Unlock()
	up, err := h.store.GetUpload(ctx, tusID(conf, id))
	if err != nil {
		failTus(c, err)
		return
	}
	u := up.(*upload)
	if u.rec.Done == nil {
		failTus(c, handler.NewError("ERR_UPLOAD_NOT_FINISHED", "the upload is not finished", http.StatusConflict))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, u.result())
}

// failTus answers a tus error in the JSON error shape from a Gin handler.
func failTus(c *gin.Context, err error) {
	c.Abort()
	rs := &reqState{}
	w := &respWriter{ResponseWriter: c.Writer, rs: rs, head: c.Request.Method == http.MethodHead}
	w.fail(tusError(contextWith(c.Request.Context(), rs), err))
	if cause := rs.takeCause(w.status); cause != nil {
		httpapi.NoteError(c, cause)
	}
	w.flush()
}

// respWriter adds the headers tusd does not know (Upload-Expires, the checksum
// extension, the completion's content URL and key) and rewrites tusd's plain-text
// errors into Lectern's JSON error shape.
type respWriter struct {
	http.ResponseWriter
	rs      *reqState
	h       *Handler
	head    bool
	written bool
	status  int // an error status being rewritten
	body    bytes.Buffer
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *respWriter) WriteHeader(code int) {
	if w.written {
		return
	}
	w.written = true
	hdr := w.Header()
	if hdr.Get("Tus-Version") != "" && w.h != nil { // the OPTIONS answer
		hdr.Set("Tus-Extension", w.h.Extensions())
		hdr.Set("Tus-Checksum-Algorithm", ChecksumAlgorithms)
		// tusd answers 200 for old browsers' CORS preflights; CORS is off here, and
		// 204 is the tus specification's answer.
		if code == http.StatusOK {
			code = http.StatusNoContent
		}
	}
	if code == http.StatusPreconditionFailed {
		// tus 1.0: a 412 for an unsupported Tus-Resumable MUST name the versions the
		// server supports; tusd sends Tus-Version on OPTIONS answers only.
		hdr.Set("Tus-Version", "1.0.0")
	}
	if code < 300 && !w.rs.expires.IsZero() && w.rs.result == nil {
		hdr.Set("Upload-Expires", w.rs.expires.UTC().Format(http.TimeFormat))
	}
	if code < 300 && w.rs.result != nil && (w.rs.method == http.MethodPatch || w.rs.method == http.MethodPost) {
		// Only the completing request and a repeated final PATCH (a client that lost
		// that answer) carry the key; a HEAD or a DELETE of a finished upload not.
		r := w.rs.result
		hdr.Set(HeaderContentName, r.Name)
		hdr.Set(HeaderContentURL, r.URL)
		hdr.Set(HeaderContentKey, r.Key)
		hdr.Set(HeaderContentSize, strconv.FormatInt(r.Size, 10))
		if r.Handout != "" {
			hdr.Set(HeaderHandoutID, r.Handout)
		}
		hdr.Set("Cache-Control", "no-store")
	}
	if code >= 400 && w.rs.created != "" && hdr.Get("Location") == "" {
		// A creation-with-upload POST that failed after the upload was created (its
		// body refused, a storage error): tusd drops the Location it had set, which
		// would leave the client unable to resume or delete the upload it made.
		// (tusd builds it the same way: scheme and host of the request, BasePath, id.)
		hdr.Set("Location", w.rs.origin+basePath+w.rs.created)
	}
	if code >= 400 {
		w.status = code
		return // the body decides the JSON; sent by flush
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	if w.status != 0 {
		return w.body.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

func (w *respWriter) fail(err error) {
	var te handler.Error
	if e, ok := err.(handler.Error); ok {
		te = e
	} else {
		te = handler.NewError("ERR_INTERNAL_SERVER_ERROR", err.Error(), http.StatusInternalServerError)
	}
	for k, v := range te.HTTPResponse.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(te.HTTPResponse.StatusCode)
	_, _ = w.Write([]byte(te.HTTPResponse.Body))
}

// flush sends a buffered error as {"error":{"code","message","status"}}.
func (w *respWriter) flush() {
	if w.status == 0 {
		return
	}
	status := w.status
	w.status = 0
	_, msg, _ := strings.Cut(strings.TrimSpace(w.body.String()), ": ")
	code := errorCode(status)
	if status >= 500 {
		// The client learns nothing of the cause; the request log line has it
		// (Handler.serve notes it).
		msg = http.StatusText(status)
		if status == http.StatusServiceUnavailable {
			msg = "storage is unavailable, retry later"
			w.Header().Set("Retry-After", "5")
		}
	}
	if status == http.StatusLocked {
		w.Header().Set("Retry-After", "2")
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	hdr := w.Header()
	hdr.Del("Content-Length")
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	w.ResponseWriter.WriteHeader(status)
	if w.head {
		return
	}
	b, _ := json.Marshal(httpapi.ErrorBody{Error: httpapi.ErrorDetail{Code: code, Message: msg, Status: status}})
	_, _ = w.ResponseWriter.Write(append(b, '\n'))
}

// Error codes of the upload endpoint beyond httpapi's (see docs/uploads.md).
const (
	CodeChecksumMismatch httpapi.Code = "checksum_mismatch"
	CodeGone             httpapi.Code = "gone"
	CodeLocked           httpapi.Code = "locked"
)

func errorCode(status int) httpapi.Code {
	switch status {
	case StatusChecksumMismatch:
		return CodeChecksumMismatch
	case http.StatusGone:
		return CodeGone
	case http.StatusLocked:
		return CodeLocked
	case http.StatusBadRequest:
		return httpapi.CodeBadRequest
	case http.StatusForbidden:
		return httpapi.CodeForbidden
	case http.StatusNotFound:
		return httpapi.CodeNotFound
	case http.StatusMethodNotAllowed:
		return httpapi.CodeMethodNotAllowed
	case http.StatusConflict:
		return httpapi.CodeConflict
	case http.StatusPreconditionFailed:
		return httpapi.CodePreconditionFailed
	case http.StatusRequestEntityTooLarge:
		return httpapi.CodeTooLarge
	case http.StatusUnsupportedMediaType:
		return httpapi.CodeUnsupportedMedia
	case http.StatusServiceUnavailable:
		return httpapi.CodeStorageUnavailable
	}
	return httpapi.CodeInternal
}
