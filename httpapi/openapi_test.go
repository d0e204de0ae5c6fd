package httpapi

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/lectern/lectern/httpapi/openapicheck"
)

const openAPIFile = "../docs/openapi.yaml"

type openAPIDoc struct {
	Components struct {
		Schemas struct {
			ErrorBody struct {
				Properties struct {
					Error struct {
						Properties struct {
							Code struct {
								Enum []string `yaml:"enum"`
							} `yaml:"code"`
						} `yaml:"properties"`
					} `yaml:"error"`
				} `yaml:"properties"`
			} `yaml:"ErrorBody"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, []byte) {
	t.Helper()
	raw, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", openAPIFile, err)
	}
	return doc, raw
}

// ownPath reports whether this package registers the routes of an OpenAPI path; the
// other documented paths belong to route groups registered from other packages, and
// cmd/lecternd's test checks them over the assembled server.
func ownPath(p string) bool {
	switch p {
	case "/healthz", "/readyz", "/metrics", "/v1/token", "/v1/tokens":
		return true
	}
	return strings.HasPrefix(p, "/v1/content/")
}

// TestOpenAPICoversRoutes fails when a route of this package is missing from the
// OpenAPI file, or the file describes one of this package's paths with an operation
// that is not registered.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t)
	_, raw := loadOpenAPI(t)
	missing, extra, err := openapicheck.Compare(e.api.Engine().Routes(), raw,
		func(o openapicheck.Operation) bool { return ownPath(o.Path) })
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("route %s is not in %s", m, openAPIFile)
	}
	for _, x := range extra {
		t.Errorf("%s documents %s, which no registered route serves", openAPIFile, x)
	}
	if n := len(e.api.Engine().Routes()); n < 8 {
		t.Fatalf("only %d routes registered", n)
	}
}

// TestOpenAPIErrorCodes keeps the documented code enum equal to the code table.
func TestOpenAPIErrorCodes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	documented := doc.Components.Schemas.ErrorBody.Properties.Error.Properties.Code.Enum
	// The upload routes (package stream, which imports this one) add three codes of
	// tus answers to the table's; cmd/lecternd's TestDocumentedErrorAnswers drives a
	// real server into each and checks its body against the documented enum.
	codes := []string{"checksum_mismatch", "gone", "locked"}
	for c := range codeStatus {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	sort.Strings(documented)
	if !slices.Equal(codes, documented) {
		t.Fatalf("codes in the table %v, documented %v", codes, documented)
	}
}

// TestOpenAPIRefsResolve checks that every local $ref names something in the file.
func TestOpenAPIRefsResolve(t *testing.T) {
	_, raw := loadOpenAPI(t)
	var tree map[string]any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`\$ref: *"?#/([^"\s}]+)"?`).FindAllStringSubmatch(string(raw), -1)
	if len(refs) == 0 {
		t.Fatal("no $ref found")
	}
	for _, m := range refs {
		var node any = tree
		for _, part := range strings.Split(m[1], "/") {
			mp, ok := node.(map[string]any)
			if !ok {
				node = nil
				break
			}
			node = mp[part]
		}
		if node == nil {
			t.Errorf("$ref #/%s does not resolve", m[1])
		}
	}
}
