package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lectern/lectern/backends"
)

// crossProcessCheck is the suite's check that races child processes.
const crossProcessCheck = "TestConformance/instances/conditional_puts_across_processes"

// TestConformanceCommandAcrossProcesses runs the cross-process check through the real
// binary, as an operator does: the suite starts the lectern binary again as two
// child processes, which must open the same prefix of the same backend and race the
// parent. The check passes only with both children's results (a child that does not
// report fails it), so its PASS line is the proof that they ran. The binary is
// started as a shell starts it through PATH (argv[0] "lectern", no directory), and
// as a supervisor may start it, with an argv[0] that PATH does not resolve: the
// children are started from the running executable, not by argv[0].
func TestConformanceCommandAcrossProcesses(t *testing.T) {
	bin := binary(t, "lectern")
	tests := []struct {
		name string
		path string // PATH of the command
	}{
		{"started through PATH", filepath.Dir(bin)},
		{"argv[0] not on PATH", t.TempDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := "file://" + filepath.ToSlash(t.TempDir())
			out, err := runLectern(t, bin, tt.path, "conformance", "--backend", store, "--run", "instances/conditional_puts_across_processes", "-v")
			if err != nil {
				t.Fatalf("lectern conformance: %v\n%s", err, out)
			}
			if !strings.Contains(out, "--- PASS: "+crossProcessCheck+" ") || strings.Contains(out, "--- SKIP: "+crossProcessCheck) {
				t.Fatalf("the cross-process check did not run and pass:\n%s", out)
			}
			b, err := backends.Open(context.Background(), store)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for a, err := range b.List(context.Background(), "") {
				t.Fatalf("left behind: %s %v", a.Key, err)
			}
		})
	}
}

// TestConformanceCommandAcrossProcessesOnMemory: mem:// storage lives in one
// process's memory, so the cross-process check cannot run on it; it skips, saying
// why, instead of failing on a child that finds nothing.
func TestConformanceCommandAcrossProcessesOnMemory(t *testing.T) {
	bin := binary(t, "lectern")
	out, err := runLectern(t, bin, filepath.Dir(bin), "conformance", "--backend", "mem://xp", "--run", "instances/conditional_puts_across_processes", "-v")
	if err != nil {
		t.Fatalf("lectern conformance: %v\n%s", err, out)
	}
	if !strings.Contains(out, "--- SKIP: "+crossProcessCheck+" ") || !strings.Contains(out, "mem:// storage lives in this process's memory") {
		t.Fatalf("the cross-process check on mem:// did not skip with its reason:\n%s", out)
	}
}

// runLectern runs bin as the process "lectern" (argv[0], as a shell started through
// PATH gives it) with the environment's PATH replaced by path, and returns its
// combined output.
func runLectern(t testing.TB, bin, path string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Args[0] = "lectern"
	cmd.Env = append(withoutEnv(os.Environ(), "PATH"), "PATH="+path)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// withoutEnv is env without the variable name.
func withoutEnv(env []string, name string) []string {
	var kept []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			kept = append(kept, kv)
		}
	}
	return kept
}
