package httpapi

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// openAPIRoutes are route groups registered for the OpenAPI check besides the built-in
// ones. Test files that add route groups append their registrars here (in an init
// function), so that the check covers every route lecternd serves.
var openAPIRoutes []RouteRegistrar

const openAPIFile = "../docs/openapi.yaml"

type openAPIDoc struct {
	Paths      map[string]map[string]any `yaml:"paths"`
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

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

var httpMethods = []string{"get", "head", "post", "put", "patch", "delete", "options"}

// TestOpenAPICoversRoutes fails when a registered route is missing from the OpenAPI
// file, or the file describes a route that is not registered.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Routes = append(c.Routes, openAPIRoutes...) })
	doc, _ := loadOpenAPI(t)

	registered := map[string]bool{}
	for _, r := range e.api.Engine().Routes() {
		p := ginParam.ReplaceAllString(r.Path, "{$1}")
		key := strings.ToLower(r.Method) + " " + p
		registered[key] = true
		ops, ok := doc.Paths[p]
		if !ok {
			t.Errorf("route %s %s is not in %s (as %s)", r.Method, r.Path, openAPIFile, p)
			continue
		}
		op, ok := ops[strings.ToLower(r.Method)].(map[string]any)
		if !ok {
			t.Errorf("route %s %s: %s has no %s operation", r.Method, r.Path, p, strings.ToLower(r.Method))
			continue
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s %s has no responses", r.Method, p)
		}
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			if slices.Contains(httpMethods, m) {
				documented = append(documented, m+" "+p)
			}
		}
	}
	sort.Strings(documented)
	for _, d := range documented {
		if !registered[d] {
			t.Errorf("%s documents %s, which no registered route serves", openAPIFile, d)
		}
	}
	if len(documented) < 8 {
		t.Fatalf("only %d operations documented; the file was not read as expected", len(documented))
	}
}

// TestOpenAPIErrorCodes keeps the documented code enum equal to the code table.
func TestOpenAPIErrorCodes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	documented := doc.Components.Schemas.ErrorBody.Properties.Error.Properties.Code.Enum
	var codes []string
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
