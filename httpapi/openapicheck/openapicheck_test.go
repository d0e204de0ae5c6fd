package openapicheck

import (
	"slices"
	"testing"

	"github.com/gin-gonic/gin"
)

const spec = `
openapi: 3.1.0
paths:
  /a/{id}:
    get: {responses: {"200": {description: ok}}}
    delete: {responses: {"204": {description: ok}}}
  /b:
    parameters: []
    post: {responses: {"201": {description: ok}}}
`

func TestCompare(t *testing.T) {
	routes := gin.RoutesInfo{
		{Method: "GET", Path: "/a/:id"},
		{Method: "PUT", Path: "/a/:id"},
		{Method: "GET", Path: "/files/*path"},
	}
	missing, extra, err := Compare(routes, []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"GET /files/{path}", "PUT /a/{id}"}; !slices.Equal(missing, want) {
		t.Errorf("missing %v, want %v", missing, want)
	}
	if want := []string{"DELETE /a/{id}", "POST /b"}; !slices.Equal(extra, want) {
		t.Errorf("extra %v, want %v", extra, want)
	}
	_, extra, _ = Compare(routes, []byte(spec), func(o Operation) bool { return o.Path == "/b" })
	if want := []string{"POST /b"}; !slices.Equal(extra, want) {
		t.Errorf("filtered extra %v, want %v", extra, want)
	}
}

func TestOperationsRefusesBadDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not yaml":     "paths: [",
		"no responses": "paths:\n  /a:\n    get: {summary: x}\n",
	} {
		if _, err := Operations([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
