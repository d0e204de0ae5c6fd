package encryption

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestWebCrypto decrypts testdata/vectors.json with node's WebCrypto
// (globalThis.crypto.subtle, the browser API) through testdata/webcrypto_check.mjs,
// then checks that the script does reject a corrupted "valid" vector, so the check
// cannot pass vacuously.
func TestWebCrypto(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node not found: the WebCrypto check is required when CI=true")
		}
		t.Skip("SKIPPED: node not found in PATH; the WebCrypto decryption check did NOT run")
	}
	run := func(vectors string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, node, "testdata/webcrypto_check.mjs", vectors).CombinedOutput()
		return string(out), err
	}
	out, err := run(vectorsFile)
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("WebCrypto check failed: %v", err)
	}

	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	ct, err := hex.DecodeString(vf.Valid[len(vf.Valid)-1].Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	ct[len(ct)/2] ^= 0x01
	vf.Valid[len(vf.Valid)-1].Ciphertext = hex.EncodeToString(ct)
	bad := filepath.Join(t.TempDir(), "corrupted.json")
	b, _ := json.Marshal(vf)
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(bad); err == nil {
		t.Fatalf("WebCrypto check accepted a corrupted vector:\n%s", out)
	}
}
