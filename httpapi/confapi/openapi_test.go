package confapi_test

import (
	"os"
	"strings"
	"testing"

	"github.com/lectern/lectern/httpapi/openapicheck"
)

// TestOpenAPICoversConferencingRoutes keeps docs/openapi.yaml and these routes in
// step here, next to the routes, and not only in cmd/lecternd's test of the
// assembled server: every route of a server with the conferencing routes is
// documented, and every documented conference path but the uploads (package
// stream's) is served.
func TestOpenAPICoversConferencingRoutes(t *testing.T) {
	e := newEnv(t)
	raw, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	own := func(o openapicheck.Operation) bool {
		return strings.HasPrefix(o.Path, "/v1/conferences") && !strings.Contains(o.Path, "/uploads")
	}
	missing, extra, err := openapicheck.Compare(e.server.Engine().Routes(), raw, own)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("route %s is not in docs/openapi.yaml", m)
	}
	for _, x := range extra {
		t.Errorf("docs/openapi.yaml documents %s, which no conferencing route serves", x)
	}
}
