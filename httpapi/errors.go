package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// Code is a stable, machine-readable error code. Clients branch on the code, never on
// the message, which is for humans and may change.
type Code string

// The stable error codes. Adding a code is a compatible change; renaming one is not.
const (
	CodeBadRequest          Code = "bad_request"
	CodeInvalidJSON         Code = "invalid_json"
	CodeInvalidXML          Code = "invalid_xml"
	CodeInvalidID           Code = "invalid_id"
	CodeUnauthenticated     Code = "unauthenticated"
	CodeForbidden           Code = "forbidden"
	CodeNotFound            Code = "not_found"
	CodeMethodNotAllowed    Code = "method_not_allowed"
	CodeConflict            Code = "conflict"
	CodePreconditionFailed  Code = "precondition_failed"
	CodeTooLarge            Code = "too_large"
	CodeUnsupportedMedia    Code = "unsupported_media_type"
	CodeRangeNotSatisfiable Code = "range_not_satisfiable"
	CodeTooManyRequests     Code = "too_many_requests"
	CodeInternal            Code = "internal"
	CodeStorageUnavailable  Code = "storage_unavailable"
	CodeUnavailable         Code = "unavailable"
)

// codeStatus is the one table from code to HTTP status.
var codeStatus = map[Code]int{
	CodeBadRequest:          http.StatusBadRequest,
	CodeInvalidJSON:         http.StatusBadRequest,
	CodeInvalidXML:          http.StatusBadRequest,
	CodeInvalidID:           http.StatusBadRequest,
	CodeUnauthenticated:     http.StatusUnauthorized,
	CodeForbidden:           http.StatusForbidden,
	CodeNotFound:            http.StatusNotFound,
	CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	CodeConflict:            http.StatusConflict,
	CodePreconditionFailed:  http.StatusPreconditionFailed,
	CodeTooLarge:            http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia:    http.StatusUnsupportedMediaType,
	CodeRangeNotSatisfiable: http.StatusRequestedRangeNotSatisfiable,
	CodeTooManyRequests:     http.StatusTooManyRequests,
	CodeInternal:            http.StatusInternalServerError,
	CodeStorageUnavailable:  http.StatusServiceUnavailable,
	CodeUnavailable:         http.StatusServiceUnavailable,
}

// Status returns the HTTP status of a code (500 for an unknown code).
func (c Code) Status() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// DefaultRetryAfter is sent with storage_unavailable when nothing more specific is known.
const DefaultRetryAfter = 5 * time.Second

// Error is an error that already knows its code and client-facing message. Handlers
// return one when they detect a client mistake themselves; Err, if set, is the cause,
// logged but never sent.
type Error struct {
	Code       Code
	Message    string
	RetryAfter time.Duration
	Err        error
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorBody is the JSON shape of every error response:
// {"error":{"code":"not_found","message":"…","status":404}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// ErrorRule maps a class of errors to a code. Match decides (usually errors.Is against
// a sentinel); Message, when set, replaces the error's own text in the response. When
// Message is empty the error's text is sent for 4xx codes (it is the reason the client
// needs), and a generic text for 5xx codes (their details stay in the log).
type ErrorRule struct {
	Match   func(error) bool
	Code    Code
	Message string
}

// Is returns a Match function for errors.Is(err, target).
func Is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// defaultErrorRules classify the errors this package knows about. Rules given in
// Config.ErrorRules (the engine's sentinels) are consulted before these.
func defaultErrorRules() []ErrorRule {
	return []ErrorRule{
		{Match: isMaxBytes, Code: CodeTooLarge, Message: "request body is over the size limit"},
		{Match: Is(layout.ErrInvalidID), Code: CodeInvalidID},
		// Require answers these itself; a handler meets them when it acts on the
		// token's claims (SignContentFor).
		{Match: Is(ErrTokenExpired), Code: CodeUnauthenticated, Message: "token expired"},
		{Match: Is(ErrTokenInvalid), Code: CodeUnauthenticated, Message: "invalid token"},
		{Match: Is(storage.ErrNotFound), Code: CodeNotFound, Message: "not found"},
		{Match: Is(storage.ErrPrecondition), Code: CodePreconditionFailed, Message: "the object changed or already exists"},
		{Match: Is(storage.ErrInvalidRange), Code: CodeRangeNotSatisfiable, Message: "range not satisfiable"},
		{Match: Is(storage.ErrInvalidArgument), Code: CodeBadRequest, Message: "invalid storage request"},
		{Match: Is(storage.ErrUnavailable), Code: CodeStorageUnavailable, Message: "storage is unavailable, retry later"},
		{Match: Is(storage.ErrClosed), Code: CodeStorageUnavailable, Message: "storage is closed (the server is shutting down), retry later"},
		// A backend timing out is, for the client, the storage being unavailable. A
		// cancelled request usually means the client left; the answer is never seen.
		{Match: Is(context.DeadlineExceeded), Code: CodeStorageUnavailable, Message: "storage did not answer in time, retry later"},
		{Match: Is(context.Canceled), Code: CodeStorageUnavailable, Message: "request cancelled"},
		// Permission and unsupported mean a misconfigured server, not a client mistake.
		{Match: Is(storage.ErrPermission), Code: CodeInternal},
		{Match: Is(storage.ErrUnsupported), Code: CodeInternal},
	}
}

func isMaxBytes(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// classify turns any error into the code, message and Retry-After to send.
func classify(rules []ErrorRule, err error) (Code, string, time.Duration) {
	var ae *Error
	if errors.As(err, &ae) {
		retry := ae.RetryAfter
		if ae.Code.Status() == http.StatusServiceUnavailable && retry == 0 {
			retry = DefaultRetryAfter
		}
		return ae.Code, ae.Message, retry
	}
	for _, r := range rules {
		if r.Match(err) {
			msg := r.Message
			if msg == "" {
				msg = err.Error()
				if r.Code.Status() >= 500 {
					msg = http.StatusText(r.Code.Status())
				}
			}
			var retry time.Duration
			if r.Code == CodeStorageUnavailable {
				retry = DefaultRetryAfter
			}
			return r.Code, msg, retry
		}
	}
	return CodeInternal, "internal error", 0
}

// Fail answers the request with the JSON error for err and aborts the handler chain.
// It is the one way handlers (this package's and the engine's) report an error.
func Fail(c *gin.Context, err error) {
	rules := defaultErrorRules()
	s := serverOf(c)
	if s != nil {
		rules = s.errorRules
	}
	code, msg, retry := classify(rules, err)
	if s != nil {
		s.metrics.observeStorageError(err)
	}
	// The cause goes to the request log (by the logging middleware), not to the client.
	_ = c.Error(err)
	writeError(c, code, msg, retry)
}

// NoteError records err as the cause of the request's error answer, for route
// handlers that answer errors in their own way rather than through Fail (the tus
// upload routes): the request log shows it, and a classified storage error counts in
// lectern_storage_errors_total, as with Fail.
func NoteError(c *gin.Context, err error) {
	if s := serverOf(c); s != nil {
		s.metrics.observeStorageError(err)
	}
	_ = c.Error(err)
}

// writeError writes the JSON error shape.
func writeError(c *gin.Context, code Code, msg string, retry time.Duration) {
	status := code.Status()
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	// Set here: gin keeps a Content-Type a handler set earlier (octet-stream).
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Del("ETag")
	h.Del("Last-Modified")
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		// RFC 9110 §15.5.2: every 401 carries a challenge.
		h.Set("WWW-Authenticate", `Bearer realm="lectern"`)
	}
	if retry > 0 {
		h.Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
	}
	c.AbortWithStatusJSON(status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg, Status: status}})
}
