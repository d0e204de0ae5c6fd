// Package gobuild builds the project's commands for tests that run them as real
// processes (the end-to-end tests of lecternd and the CLI). It builds them with the
// same race-detector setting as the test binary that asks, so that under
// `go test -race` a data race inside lecternd or the CLI fails the test that drove it,
// not only a race in the test's own code.
//
// It must not know what the commands do; it only runs `go build`.
package gobuild

import (
	"context"
	"fmt"
	"os/exec"
	"runtime/debug"
)

// Flags are the `go build` flags that match the running binary: -race when it was
// built with the race detector.
func Flags() []string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return []string{"-race"}
		}
	}
	return nil
}

// Build runs `go build -o out pkg` with Flags, in the working directory dir ("" for
// the current one). The error carries the compiler's output.
func Build(ctx context.Context, dir, out, pkg string) error {
	args := append([]string{"build"}, Flags()...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %w\n%s", args, err, output)
	}
	return nil
}
