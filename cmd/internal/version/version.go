// Package version says which build of Lectern's commands is running, from what the Go
// toolchain stamps into every binary: the module version, the VCS revision and its
// time, whether the tree had uncommitted changes, the Go version and the platform. A
// bug report that quotes `lecternd --version` names the exact code.
//
// It must not know the commands themselves.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// String describes the running binary, named program.
func String(program string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return format(program, info, runtime.GOOS+"/"+runtime.GOARCH)
}

// format is String for a given build info (nil: none was stamped) and platform.
func format(program string, info *debug.BuildInfo, platform string) string {
	if info == nil {
		return program + " (no build information), " + runtime.Version() + ", " + platform
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var b strings.Builder
	b.WriteString(program + " " + version)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		b.WriteString(", commit " + rev)
		if t := settings["vcs.time"]; t != "" {
			b.WriteString(" of " + t)
		}
		if settings["vcs.modified"] == "true" {
			b.WriteString(" with local changes")
		}
	}
	b.WriteString(", " + info.GoVersion + ", " + platform)
	if settings["-race"] == "true" {
		b.WriteString(", race detector")
	}
	return b.String()
}
