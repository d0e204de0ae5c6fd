package main

import (
	"os"
	"strings"
	"testing"
)

// TestAPIDocListsEveryFlag: docs/api.md's configuration table names every flag of
// lecternd (before, --write-stall-timeout was missing from it).
func TestAPIDocListsEveryFlag(t *testing.T) {
	raw, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(raw), "\n### Configuration\n")
	if start < 0 {
		t.Fatal("docs/api.md has no Configuration section")
	}
	section, _, _ := strings.Cut(string(raw)[start+1:], "\n## ")
	for _, o := range options {
		if !strings.Contains(section, "`--"+o.name+"`") {
			t.Errorf("docs/api.md's configuration table does not list --%s", o.name)
		}
	}
}
