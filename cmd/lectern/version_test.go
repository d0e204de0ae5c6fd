package main

import (
	"strings"
	"testing"
)

// TestVersion: --version prints one line naming the build, and touches no server.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-v"} {
		r := cli(t, map[string]string{"LECTERN_SERVER": "https://127.0.0.1:1"}, arg).must(t)
		if !strings.HasPrefix(r.stdout, "lectern ") || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, "go1.") {
			t.Fatalf("%s printed %q", arg, r.stdout)
		}
	}
}
