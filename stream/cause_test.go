package stream

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// TestStorageFailureCauseIsLoggedNotSent: when the storage fails under an upload
// request, the client gets 503 storage_unavailable and nothing of the cause (which
// names storage paths and the backend's own words), while the request log line
// carries the cause and lectern_storage_errors_total counts it, as for the other
// routes. Without this an operator saw 503s and no reason (a full disk, a revoked
// credential). Both storage modes; the create and the PATCH.
func TestStorageFailureCauseIsLoggedNotSent(t *testing.T) {
	forEachMode(t, func(t *testing.T, newBE func(testing.TB) *backend) {
		logs := &syncBuffer{}
		be := newBE(t)
		be.log = slog.New(slog.NewJSONHandler(logs, nil))
		in := be.start(t)
		conf := in.conference("conf-a")
		tok := in.token(httpapi.RolePresenter, conf, "alice")
		loc := in.create(conf, tok, 100, meta("filename", "a.pdf", "purpose", "handout"))

		cause := errors.New("no space left on the test device")
		be.rec.mu.Lock()
		be.rec.failPut = func(key string) error { return storage.NewError(storage.ErrUnavailable, "put", key, cause) }
		be.rec.mu.Unlock()
		requests := map[string]reply{
			"PATCH": in.patch(loc, tok, 0, make([]byte, 100)),
			"POST": in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{
				"Upload-Length": "10", "Upload-Metadata": meta("filename", "b.pdf", "purpose", "handout")}, nil),
		}
		for method, r := range requests {
			if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"storage_unavailable"`) {
				t.Fatalf("%s with the storage failing: %v, want 503 storage_unavailable", method, r)
			}
			if strings.Contains(string(r.body), cause.Error()) {
				t.Fatalf("%s: the answer names the cause: %s", method, r.body)
			}
			// The request's log line is written once the answer is out.
			for deadline := time.Now().Add(10 * time.Second); !loggedWithCause(logs.String(), method, cause); {
				if time.Now().After(deadline) {
					t.Fatalf("no request log line of the %s names the cause:\n%s", method, logs)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		metrics := in.do("GET", "/metrics", "", nil, nil)
		if want := `lectern_storage_errors_total{category="unavailable"} 2`; !strings.Contains(string(metrics.body), want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, metrics.body)
		}
	})
}

// loggedWithCause reports whether logs hold the request line of an upload request
// of method whose error names cause.
func loggedWithCause(logs, method string, cause error) bool {
	for line := range strings.Lines(logs) {
		var rec struct{ Msg, Method, Route, Error string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" && rec.Method == method &&
			strings.Contains(rec.Route, "/uploads") && strings.Contains(rec.Error, cause.Error()) {
			return true
		}
	}
	return false
}
