package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers"
)

// readmeBlock returns the first ```sh block after the line that starts with heading
// (or after the previous block, when heading is "").
func readmeBlock(t *testing.T, readme string, heading string, from int) (block string, end int) {
	t.Helper()
	if heading != "" {
		i := strings.Index(readme[from:], "\n"+heading+"\n")
		if i < 0 {
			t.Fatalf("README.md has no heading %q", heading)
		}
		from += i
	}
	const open, closing = "\n```sh\n", "\n```\n"
	i := strings.Index(readme[from:], open)
	if i < 0 {
		t.Fatalf("README.md has no sh block after %q", heading)
	}
	start := from + i + len(open)
	j := strings.Index(readme[start:], closing)
	if j < 0 {
		t.Fatal("README.md: an sh block is not closed")
	}
	return readme[start : start+j+1], start + j
}

// TestReadmeWalkthrough runs the README's two walkthroughs — curl, then the CLI — as
// written, in bash, against a real lecternd in a fresh folder, and checks that both
// downloads are the uploaded file. Only what must differ in a test is replaced: the
// server's address (a free port of 127.0.0.1) and the CLI's build (built once by the
// test, from the same source). Each replacement must match exactly once, so the
// README cannot drift from what is tested.
func TestReadmeWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "base64", "awk", "sed", "cmp", "stat"} {
		if _, err := exec.LookPath(tool); err != nil {
			servers.Unavailable(t, "walkthrough", tool+" is not on PATH", "install "+tool)
		}
	}
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	curlBlock, end := readmeBlock(t, readme, "## A first conference with curl", 0)
	cliBlock, _ := readmeBlock(t, readme, "", end)

	work := t.TempDir()
	p := start(t, work)
	cli := lecternCLI(t)
	script := curlBlock + cliBlock
	for _, r := range []struct{ old, new string }{
		{"export LECTERN=https://localhost:8443\n", "export LECTERN=https://" + p.addr + "\n"},
		{"go build -o lectern ./cmd/lectern\n", "cp " + cli + " lectern\n"},
	} {
		if n := strings.Count(script, r.old); n != 1 {
			t.Fatalf("README.md's walkthrough holds %q %d times, want once: update this test with it", strings.TrimSpace(r.old), n)
		}
		script = strings.Replace(script, r.old, r.new, 1)
	}

	deck := make([]byte, 3<<20+12345) // several segments, not a whole number of them
	if _, err := rand.Read(deck); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "deck.pdf"), deck, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "LECTERN_CONFIG=", "LECTERN_SERVER=", "LECTERN_TOKEN=", "LECTERN_TOKEN_FILE=", "LECTERN_CA_FILE=")
	out, err := cmd.CombinedOutput()
	t.Logf("the walkthrough printed:\n%s", out)
	if err != nil {
		t.Fatalf("the README walkthrough failed: %v", err)
	}
	// curl's plain copy, its copy through a signed link, and the CLI's copy.
	if n := strings.Count(string(out), "identical\n"); n != 3 {
		t.Errorf("the walkthroughs printed \"identical\" %d times, want 3", n)
	}
	for _, name := range []string{"copy.pdf", "copy2.pdf"} {
		got, err := os.ReadFile(filepath.Join(work, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, deck) {
			t.Errorf("%s differs from deck.pdf", name)
		}
	}
	enc, err := os.ReadFile(filepath.Join(work, "deck.pdf.enc"))
	if err != nil {
		t.Fatal(err)
	}
	if link, err := os.ReadFile(filepath.Join(work, "link.enc")); err != nil || !bytes.Equal(link, enc) {
		t.Errorf("the download through the signed link differs from the ciphertext (%v)", err)
	}
	if len(enc) <= len(deck) || bytes.Contains(enc, deck[:64]) {
		t.Error("what participants download is not ciphertext of the deck")
	}
}
