// Package openapicheck compares the routes a Gin engine serves with the operations an
// OpenAPI file describes, so that tests can keep docs/openapi.yaml and the router in
// step in both directions. It is used by tests of httpapi (its own routes) and of
// cmd/lecternd (every route of the assembled server).
//
// It knows only Gin's route list and the OpenAPI document's paths; it must not know
// any route of Lectern.
package openapicheck

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// Operation is one documented method on one path, in OpenAPI form ("get",
// "/v1/content/{org}/{conf}/{name}").
type Operation struct {
	Method string
	Path   string
	Tags   []string
}

func (o Operation) String() string { return strings.ToUpper(o.Method) + " " + o.Path }

var methods = []string{"get", "head", "post", "put", "patch", "delete", "options"}

// Operations lists the operations of an OpenAPI document, sorted.
func Operations(spec []byte) ([]Operation, error) {
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	var ops []Operation
	for p, item := range doc.Paths {
		for m, node := range item {
			if !slices.Contains(methods, m) {
				continue
			}
			var op struct {
				Tags      []string       `yaml:"tags"`
				Responses map[string]any `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("openapi: %s %s: %w", m, p, err)
			}
			if len(op.Responses) == 0 {
				return nil, fmt.Errorf("openapi: %s %s has no responses", m, p)
			}
			ops = append(ops, Operation{Method: m, Path: p, Tags: op.Tags})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops, nil
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// FromGin turns a Gin route into its OpenAPI operation (":id" and "*id" become "{id}").
func FromGin(r gin.RouteInfo) Operation {
	return Operation{Method: strings.ToLower(r.Method), Path: ginParam.ReplaceAllString(r.Path, "{$1}")}
}

// Compare returns the routes missing from the document and the documented operations
// no route serves. keep, when not nil, limits the second list to the operations it
// accepts (a package that registers only some routes checks only its own).
func Compare(routes gin.RoutesInfo, spec []byte, keep func(Operation) bool) (missing, extra []string, err error) {
	ops, err := Operations(spec)
	if err != nil {
		return nil, nil, err
	}
	documented := map[string]bool{}
	for _, o := range ops {
		documented[o.String()] = true
	}
	served := map[string]bool{}
	for _, r := range routes {
		o := FromGin(r)
		served[o.String()] = true
		if !documented[o.String()] {
			missing = append(missing, o.String())
		}
	}
	for _, o := range ops {
		if !served[o.String()] && (keep == nil || keep(o)) {
			extra = append(extra, o.String())
		}
	}
	sort.Strings(missing)
	return missing, extra, nil
}
