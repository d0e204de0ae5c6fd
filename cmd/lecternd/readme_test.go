package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
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
	// curl and the CLI talk to lecternd through a proxy that checks every answer
	// against docs/openapi.yaml.
	base := checkingProxy(t, p.addr, filepath.Join(work, "lectern-data"))
	script := curlBlock + cliBlock
	for _, r := range []struct{ old, new string }{
		{"export LECTERN=https://localhost:8443\n", "export LECTERN=" + base + "\n"},
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

// TestUploadsCurlStepByStep runs docs/uploads.md's "curl, step by step" as written,
// in bash, against a real lecternd in a fresh folder, with the presenter token T of
// a conference demo, and checks that the /result it prints names content that
// decrypts to the uploaded file. Only the server's address is replaced (exactly
// once). Before, the block read the Location with a case-sensitive `^Location:`,
// which finds nothing in curl's HTTP/2 output (header names are lowercase there), and
// gave curl no CA for the self-signed certificate.
func TestUploadsCurlStepByStep(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "base64", "awk", "stat"} {
		if _, err := exec.LookPath(tool); err != nil {
			servers.Unavailable(t, "walkthrough", tool+" is not on PATH", "install "+tool)
		}
	}
	raw, err := os.ReadFile("../../docs/uploads.md")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := readmeBlock(t, string(raw), "### Completion", 0)
	const addr = "https://localhost:8443/"
	if n := strings.Count(block, addr); n != 1 {
		t.Fatalf("docs/uploads.md's curl block holds %q %d times, want once: update this test with it", addr, n)
	}
	work := t.TempDir()
	p := start(t, work)
	// curl talks to lecternd through a proxy that checks every answer against
	// docs/openapi.yaml.
	block = strings.Replace(block, addr, checkingProxy(t, p.addr, filepath.Join(work, "lectern-data"))+"/", 1)

	dataDir := filepath.Join(work, "lectern-data")
	c := client(t, dataDir)
	admin, err := os.ReadFile(filepath.Join(dataDir, "config", "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, work: work, dataDir: dataDir, base: "https://" + p.addr, client: c, admin: strings.TrimSpace(string(admin)), conf: "demo"}
	e.client.Transport = newSpecChecker(t).transport(e.client.Transport)
	e.call("POST", "/v1/conferences", e.admin, `{"id":"demo","organizer":"sip:alice@example.com"}`, 201, nil)
	var minted struct{ Token string }
	e.call("POST", "/v1/tokens", e.admin, `{"role":"presenter","conference":"demo","subject":"alice"}`, 201, &minted)

	talk := make([]byte, 200_000)
	if _, err := rand.Read(talk); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "talk.pdf"), talk, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "T="+minted.Token)
	out, err := cmd.Output()
	t.Logf("the block printed:\n%s", out)
	if err != nil {
		t.Fatalf("docs/uploads.md's curl block failed: %v", err)
	}
	// The last line is /result's JSON.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res struct {
		Name, Key, Purpose string
		Size               int
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Size != len(talk) || res.Purpose != "slide" {
		t.Fatalf("the block's /result: %q (%v), want the JSON of a %d-byte slide upload", lines[len(lines)-1], err, len(talk))
	}
	resp, got := e.send("GET", "/v1/conferences/demo/content/"+res.Name+"/plain", minted.Token, "", nil, "Lectern-Key", res.Key)
	if resp.StatusCode != 200 || !bytes.Equal(got, talk) {
		t.Fatalf("the uploaded content (%d) is not talk.pdf", resp.StatusCode)
	}
}
