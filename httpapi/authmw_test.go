package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// parseChallenge parses one Bearer challenge (RFC 9110 §11.6.1: auth-scheme, then
// comma-separated auth-params whose values are tokens or quoted-strings). It fails on
// anything left over, so a quoted-string that ends early (a raw '"' inside it) shows up.
func parseChallenge(t *testing.T, h string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		t.Fatalf("challenge %q is not Bearer", h)
	}
	params := map[string]string{}
	for rest != "" {
		name, after, ok := strings.Cut(rest, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t,\"") {
			t.Fatalf("challenge %q: bad auth-param at %q", h, rest)
		}
		var val strings.Builder
		if !strings.HasPrefix(after, `"`) {
			t.Fatalf("challenge %q: %s is not a quoted-string", h, name)
		}
		i, closed := 1, false
		for ; i < len(after); i++ {
			switch c := after[i]; c {
			case '\\':
				i++
				if i == len(after) {
					t.Fatalf("challenge %q: escape at the end", h)
				}
				val.WriteByte(after[i])
			case '"':
				closed = true
			default:
				val.WriteByte(c)
			}
			if closed {
				break
			}
		}
		if !closed {
			t.Fatalf("challenge %q: unterminated quoted-string for %s", h, name)
		}
		params[name] = val.String()
		rest = after[i+1:]
		if rest != "" {
			var sep bool
			rest, sep = strings.CutPrefix(rest, ", ")
			if !sep {
				t.Fatalf("challenge %q: %q follows the %s quoted-string", h, rest, name)
			}
		}
	}
	return params
}

// checkRFC6750Value fails unless v is made only of the characters RFC 6750 §3 allows in
// error and error_description values: %x20-21 / %x23-5B / %x5D-7E (no '"', no '\').
func checkRFC6750Value(t *testing.T, name, v string) {
	t.Helper()
	for _, r := range v {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			t.Fatalf("%s %q holds %q, which RFC 6750 §3 forbids", name, v, r)
		}
	}
}

// Every 401 challenge the middleware sends parses as one Bearer challenge whose
// error_description keeps to RFC 6750's character set.
func TestChallengeFollowsRFC6750(t *testing.T) {
	e := newEnv(t)
	past, err := NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	past.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, _, err := past.Mint(TokenSpec{Role: RoleAdmin, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	content := ContentPath(testOrg, testConf, testName)
	tests := []struct {
		name, path, authz string
		wantErr           string // "" means no error attribute (no credentials sent)
	}{
		{"no credentials", "/v1/token", "", ""},
		{"basic scheme", "/v1/token", "Basic abc", "invalid_request"},
		{"bearer without token", "/v1/token", "Bearer", "invalid_request"},
		{"bearer blank token", "/v1/token", "Bearer   ", "invalid_request"},
		{"token with a quote", "/v1/token", `Bearer a"b\c`, "invalid_token"},
		{"bad token", "/v1/token", "Bearer not.a.jwt", "invalid_token"},
		{"expired token", "/v1/token", "Bearer " + expired, "invalid_token"},
		{"bad signed URL", content + "?" + signedQuery(e, content), "", "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.authz != "" {
				h["Authorization"] = tt.authz
			}
			r := e.do(http.MethodGet, tt.path, h, nil)
			wantError(t, r, http.StatusUnauthorized, CodeUnauthenticated)
			p := parseChallenge(t, r.header.Get("WWW-Authenticate"))
			if p["realm"] != "lectern" {
				t.Fatalf("realm %q", p["realm"])
			}
			if p["error"] != tt.wantErr {
				t.Fatalf("error %q, want %q", p["error"], tt.wantErr)
			}
			for k, v := range p {
				checkRFC6750Value(t, k, v)
			}
			if tt.wantErr != "" && p["error_description"] == "" {
				t.Fatal("no error_description")
			}
		})
	}
}

// signedQuery returns a signature query for path whose signature does not verify.
func signedQuery(e *env, path string) string {
	q := e.auth.SignPath(http.MethodGet, path, time.Now().Add(time.Minute))
	q.Set(SignedURLSignature, "AAAA"+q.Get(SignedURLSignature)[4:])
	return q.Encode()
}

// The challenge builder itself keeps any text to RFC 6750's set, so a later message
// with a quote, a backslash or a control character cannot break the header.
func TestChallengeDescriptionSanitised(t *testing.T) {
	tests := []string{
		`the header must be "Bearer <token>"`,
		`back\slash`,
		"line\nbreak\ttab",
		"non-ASCII é ✓",
		"",
	}
	for _, msg := range tests {
		t.Run(fmt.Sprintf("%q", msg), func(t *testing.T) {
			d := challengeDescription(msg)
			checkRFC6750Value(t, "description", d)
			if msg != "" && d == "" {
				t.Fatal("description emptied")
			}
		})
	}
}
