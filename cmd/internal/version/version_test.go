package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "lecternd (no build information), "},
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"lecternd v1.2.3, go1.26.8, linux/amd64"},
		{"checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "2e31322a1b3c4d5e6f708192a3b4c5d6e7f80910"},
			{Key: "vcs.time", Value: "2026-11-22T20:40:00Z"},
			{Key: "vcs.modified", Value: "false"},
		}}, "lecternd (devel), commit 2e31322a1b3c of 2026-11-22T20:40:00Z, go1.26.8, linux/amd64"},
		{"changed checkout under the race detector", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"},
			{Key: "vcs.modified", Value: "true"},
			{Key: "-race", Value: "true"},
		}}, "lecternd (devel), commit abc with local changes, go1.26.8, linux/amd64, race detector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := format("lecternd", tt.info, "linux/amd64")
			if !strings.HasPrefix(got, tt.want) || (tt.info != nil && got != tt.want) {
				t.Fatalf("format = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestString: the test binary itself has build information, and says so.
func TestString(t *testing.T) {
	got := String("x")
	if !strings.HasPrefix(got, "x ") || strings.Contains(got, "no build information") {
		t.Fatalf("String = %q", got)
	}
}
