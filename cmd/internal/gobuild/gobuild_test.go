package gobuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// TestBuildMatchesRaceSetting builds a tiny command and checks that its own build
// settings carry -race exactly when this test binary's do.
func TestBuildMatchesRaceSetting(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module probe\n\ngo 1.26\n")
	write("main.go", `package main

import (
	"fmt"
	"runtime/debug"
)

func main() {
	info, _ := debug.ReadBuildInfo()
	for _, s := range info.Settings {
		if s.Key == "-race" {
			fmt.Print(s.Value)
		}
	}
}
`)
	bin := filepath.Join(dir, "probe")
	if err := Build(context.Background(), dir, bin, "."); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	if slices.Contains(Flags(), "-race") {
		want = "true"
	}
	if string(out) != want {
		t.Fatalf("the built command says -race=%q, want %q (this test binary: %v)", out, want, settings())
	}
}

// TestBuildReportsCompilerOutput checks that a failing build names the compiler's
// complaint.
func TestBuildReportsCompilerOutput(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module broken\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedName() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Build(context.Background(), dir, filepath.Join(dir, "broken"), ".")
	if err == nil {
		t.Fatal("a program that does not compile built")
	}
	if !strings.Contains(err.Error(), "undefinedName") {
		t.Fatalf("the error does not carry the compiler's output: %v", err)
	}
}

func settings() []debug.BuildSetting {
	info, _ := debug.ReadBuildInfo()
	return info.Settings
}
