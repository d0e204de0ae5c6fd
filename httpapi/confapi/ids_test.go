package confapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lectern/lectern/httpapi"
)

// TestMalformedIDsAnswerInvalidID pins the documented code for an id that is not of
// its form, on every kind of id the conferencing routes take, and that the message
// names the kind of id.
func TestMalformedIDsAnswerInvalidID(t *testing.T) {
	e := newEnv(t)
	presenter, _ := e.conference("codes")
	admin := e.token(httpapi.RoleAdmin, "")
	tests := []struct {
		name, method, path string
		token              string
		body               any
		message            string // a part of the message
	}{
		{"conference id", "GET", "/v1/conferences/%2e%2e", admin, nil, "conference id"},
		{"conference id in a body", "POST", "/v1/conferences", admin, map[string]string{"id": "..", "organizer": "sip:o@x"}, "conference id"},
		{"slide set id", "GET", "/v1/conferences/codes/slidesets/..", presenter, nil, "slide set id"},
		{"slide set id with digits", "GET", "/v1/conferences/codes/slidesets/a1b", presenter, nil, "slide set id"},
		{"handout id", "GET", "/v1/conferences/codes/handouts/a1b", presenter, nil, "handout id"},
		{"handout id on delete", "DELETE", "/v1/conferences/codes/handouts/%2e%2e", presenter, nil, "handout id"},
		{"content name", "GET", "/v1/conferences/codes/content/%2e%2e/plain", presenter, nil, "content name"},
		{"content name on delete", "DELETE", "/v1/conferences/codes/content/a%5cb", presenter, nil, "content name"},
		{"content name of a signed URL", "POST", "/v1/conferences/codes/content/%2e%2e/signed-url", presenter, nil, "content name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.token, "", tt.body)
			if r.status != 400 || r.code() != "invalid_id" {
				t.Fatalf("%d %s, want 400 invalid_id: %s", r.status, r.code(), r.body)
			}
			var b httpapi.ErrorBody
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.Error.Message, tt.message) {
				t.Fatalf("message %q does not name the %s", b.Error.Message, tt.message)
			}
		})
	}
}
