package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"time"

	"github.com/gin-gonic/gin"
)

// DecodeJSON decodes the request body into v strictly: Content-Type must be JSON,
// unknown fields and trailing data are refused. The error is an *Error (invalid_json,
// too_large or unsupported_media_type) ready for Fail; its message says what is wrong
// so that a client can fix its request.
//
// It uses encoding/json directly rather than gin's binding so that every failure is
// classified here (gin's binding mixes syntax errors with validation errors).
func DecodeJSON(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return Errorf(CodeUnsupportedMedia, "Content-Type must be application/json")
		}
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if isMaxBytes(err) {
			return jsonError(err)
		}
		return Errorf(CodeInvalidJSON, "unexpected data after the JSON value")
	}
	return nil
}

// DecodeOptionalJSON is DecodeJSON for a route whose body may be left out: an empty
// body (whatever its Content-Type) leaves v as it is and reports false.
func DecodeOptionalJSON(c *gin.Context, v any) (bool, error) {
	if c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
		return false, nil
	}
	// A chunked body has no length to look at: peek for its first byte.
	br := bufio.NewReader(c.Request.Body)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return false, nil
	}
	c.Request.Body = struct {
		io.Reader
		io.Closer
	}{br, c.Request.Body}
	return true, DecodeJSON(c, v)
}

func jsonError(err error) error {
	var (
		syn     *json.SyntaxError
		typ     *json.UnmarshalTypeError
		timeErr *time.ParseError
	)
	switch {
	case isMaxBytes(err):
		return &Error{Code: CodeTooLarge, Message: "request body is over the size limit", Err: err}
	case errors.Is(err, io.EOF):
		return Errorf(CodeInvalidJSON, "the request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(CodeInvalidJSON, "the JSON body ends too early")
	case errors.As(err, &syn):
		return Errorf(CodeInvalidJSON, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return Errorf(CodeInvalidJSON, "the body must be a JSON %s, not %s", jsonKind(typ.Type), typ.Value)
	case errors.As(err, &typ):
		return Errorf(CodeInvalidJSON, "field %q must be a JSON %s, not %s", typ.Field, jsonKind(typ.Type), typ.Value)
	case errors.As(err, &timeErr):
		return &Error{Code: CodeInvalidJSON, Message: fmt.Sprintf("%q is not a time in RFC 3339 form, such as 2026-12-01T09:30:00Z", timeErr.Value), Err: err}
	default:
		// Unknown fields ("json: unknown field \"x\""), and anything else the decoder
		// reports about the document itself.
		return &Error{Code: CodeInvalidJSON, Message: fmt.Sprintf("invalid JSON: %v", err), Err: err}
	}
}

// jsonKind names t as JSON does, not as Go does: a client sent JSON and knows
// nothing of the server's types.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "string (an RFC 3339 time)"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "value"
}
