package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

func TestServerRoles(t *testing.T) {
	tests := []struct {
		role    ServerRole
		content int
	}{
		{ServeAll, 200},
		{ServeComponents, 200},
		{ServeConferencing, 404},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Role = tt.role })
			e.put("content/"+testOrg+"/"+testConf+"/"+testName, []byte("c"))
			r := e.do(http.MethodGet, ContentPath(testOrg, testConf, testName), bearer(e.token(RoleAttendee, testConf)), nil)
			if r.status != tt.content {
				t.Fatalf("content: %d, want %d", r.status, tt.content)
			}
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				if r := e.do(http.MethodGet, p, nil, nil); r.status != 200 {
					t.Fatalf("%s: %d", p, r.status)
				}
			}
		})
	}
	if _, err := New(Config{Role: "everything", Content: storage.NewBucket(diskDriver(t)), Auth: mustAuthority(t)}); err == nil {
		t.Fatal("an unknown role was accepted")
	}
	if _, err := New(Config{Auth: mustAuthority(t)}); err == nil {
		t.Fatal("a server without content storage was built")
	}
}

func mustAuthority(t *testing.T) *Authority {
	t.Helper()
	a, err := NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestClassify(t *testing.T) {
	wrap := func(kind error) error {
		return fmt.Errorf("engine: load set: %w", storage.NewError(kind, "get", "meta/x", errors.New("cause")))
	}
	tests := []struct {
		err   error
		code  Code
		retry bool
	}{
		{wrap(storage.ErrNotFound), CodeNotFound, false},
		{wrap(storage.ErrPrecondition), CodePreconditionFailed, false},
		{wrap(storage.ErrInvalidRange), CodeRangeNotSatisfiable, false},
		{wrap(storage.ErrInvalidArgument), CodeBadRequest, false},
		{wrap(storage.ErrUnavailable), CodeStorageUnavailable, true},
		{wrap(storage.ErrClosed), CodeStorageUnavailable, true},
		{wrap(storage.ErrPermission), CodeInternal, false},
		{wrap(storage.ErrUnsupported), CodeInternal, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), CodeStorageUnavailable, true},
		{&http.MaxBytesError{Limit: 10}, CodeTooLarge, false},
		{Errorf(CodeConflict, "set changed"), CodeConflict, false},
		{&Error{Code: CodeStorageUnavailable, Message: "m"}, CodeStorageUnavailable, true},
		{errors.New("something unexpected"), CodeInternal, false},
	}
	for _, tt := range tests {
		code, msg, retry := classify(defaultErrorRules(), tt.err)
		if code != tt.code || (retry > 0) != tt.retry || msg == "" {
			t.Errorf("classify(%v) = %s, %q, %v; want %s retry=%v", tt.err, code, msg, retry, tt.code, tt.retry)
		}
		if code.Status() >= 500 && strings.Contains(msg, "cause") {
			t.Errorf("classify(%v) leaks the cause in %q", tt.err, msg)
		}
	}
}

// TestRequestLog checks what a log line holds: the route template, status and token
// id, and never the path's ids, the query, or the token.
func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, []byte("c"))
	tok := e.token(RoleAttendee, testConf)
	claims, _ := e.auth.Verify(tok)
	e.do(http.MethodGet, ContentPath(testOrg, testConf, testName)+"?exp=1&sig=abc", bearer(tok), nil)
	e.do(http.MethodGet, ContentPath(testOrg, testConf, testName), bearer(tok), nil)

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d request lines:\n%s", len(lines), e.logs.String())
	}
	ok := lines[1]
	if ok["route"] != "/v1/content/:org/:conf/:name" || ok["status"] != float64(200) || ok["token_id"] != claims.ID || ok["bytes"] != float64(1) {
		t.Fatalf("log line %v", ok)
	}
	for _, secret := range []string{tok, testName, "sig=abc", "exp=1"} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}
