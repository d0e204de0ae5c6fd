package httpapi

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// TestDecodeJSONMessages: every refusal names the problem in JSON's terms, never in
// Go's (type names, layout strings), so that a client can fix its request.
func TestDecodeJSONMessages(t *testing.T) {
	type body struct {
		ID    string    `json:"id"`
		Count int       `json:"count"`
		Size  uint64    `json:"size"`
		When  time.Time `json:"when"`
		Tags  []string  `json:"tags"`
		Flag  bool      `json:"flag"`
	}
	tests := []struct {
		name, body, want string
	}{
		{"array for the body", `[1,2]`, "the body must be a JSON object, not array"},
		{"string for the body", `"x"`, "the body must be a JSON object, not string"},
		{"number for a string", `{"id":123}`, `field "id" must be a JSON string, not number`},
		{"string for an integer", `{"count":"3"}`, `field "count" must be a JSON integer, not string`},
		{"fraction for an integer", `{"count":1.5}`, `field "count" must be a JSON integer, not number 1.5`},
		{"negative size", `{"size":-1}`, `field "size" must be a JSON non-negative integer, not number -1`},
		{"object for an array", `{"tags":{}}`, `field "tags" must be a JSON array, not object`},
		{"string for a boolean", `{"flag":"yes"}`, `field "flag" must be a JSON boolean, not string`},
		{"words for a time", `{"when":"yesterday"}`, `"yesterday" is not a time in RFC 3339 form`},
		{"unknown field", `{"bogus":1}`, `unknown field "bogus"`},
		{"trailing data", `{} {}`, "unexpected data after the JSON value"},
		{"empty", ``, "the request body is empty"},
	}
	gin.SetMode(gin.TestMode)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			c.Request.Header.Set("Content-Type", "application/json")
			var v body
			err := DecodeJSON(c, &v)
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Code != CodeInvalidJSON {
				t.Fatalf("DecodeJSON(%s) = %v, want an invalid_json *Error", tt.body, err)
			}
			if !strings.Contains(apiErr.Message, tt.want) {
				t.Errorf("message %q, want it to contain %q", apiErr.Message, tt.want)
			}
			for _, goism := range []string{"httpapi.", "2006-01-02", "int64", "uint64", "[]string", "time.Time"} {
				if strings.Contains(apiErr.Message, goism) {
					t.Errorf("message %q speaks Go (%s)", apiErr.Message, goism)
				}
			}
		})
	}
}

// TestDecodeOptionalJSON: a body left out (no length, or a chunked body with no
// bytes) leaves the value alone; a body that is there is decoded as strictly as by
// DecodeJSON, its first byte included.
func TestDecodeOptionalJSON(t *testing.T) {
	type body struct {
		N *int `json:"n"`
	}
	tests := []struct {
		name    string
		body    string
		chunked bool // no Content-Length, as a chunked request arrives
		present bool
		wantN   int // -1: N stays nil
		code    Code
	}{
		{name: "no body", wantN: -1},
		{name: "chunked, empty", chunked: true, wantN: -1},
		{name: "object", body: `{"n":7}`, present: true, wantN: 7},
		{name: "chunked object", body: `{"n":8}`, chunked: true, present: true, wantN: 8},
		{name: "empty object", body: `{}`, present: true, wantN: -1},
		{name: "chunked garbage", body: `n=8`, chunked: true, present: true, wantN: -1, code: CodeInvalidJSON},
		{name: "unknown field", body: `{"m":1}`, present: true, wantN: -1, code: CodeInvalidJSON},
	}
	gin.SetMode(gin.TestMode)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.chunked {
				c.Request.ContentLength = -1
			}
			var v body
			present, err := DecodeOptionalJSON(c, &v)
			var apiErr *Error
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.code != "" && (!errors.As(err, &apiErr) || apiErr.Code != tt.code):
				t.Fatalf("error %v, want %s", err, tt.code)
			case present != tt.present:
				t.Fatalf("present %v, want %v", present, tt.present)
			case tt.wantN == -1 && v.N != nil, tt.wantN != -1 && (v.N == nil || *v.N != tt.wantN):
				t.Fatalf("n = %v, want %d", v.N, tt.wantN)
			}
		})
	}
}
