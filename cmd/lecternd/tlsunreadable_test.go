package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi/tlscert"
)

// TestTLSFilesUnreadableAreLoggedAsSuch: lecternd's log says that the TLS files
// cannot be read (not that they changed and do not load) while a look cannot read
// them, and says so once they can be read again, unchanged.
func TestTLSFilesUnreadableAreLoggedAsSuch(t *testing.T) {
	work := t.TempDir()
	certPath, keyPath := filepath.Join(work, "cert.pem"), filepath.Join(work, "key.pem")
	certPEM, keyPEM, err := tlscert.SelfSigned([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{certPath: certPEM, keyPath: keyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logs := &lockedBuf{}
	cfg := testConfig(t, filepath.Join(work, "data"), "--tls-cert", certPath, "--tls-key", keyPath)
	sec, err := bootstrap(cfg, slog.New(slog.NewJSONHandler(logs, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sec.Cert.Interval = time.Nanosecond // every handshake has the files looked at
	logged := func(msg string) func() bool {
		return func() bool {
			_, _ = sec.Cert.GetCertificate(nil) // a handshake
			return strings.Contains(logs.String(), msg)
		}
	}

	// A folder where the certificate was: reading it fails (EISDIR), as a read under
	// EMFILE does.
	if err := os.Rename(certPath, certPath+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(certPath, 0o700); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "log line for unreadable files", logged("TLS certificate files cannot be read"))
	if err := os.Remove(certPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(certPath+".aside", certPath); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "log line for readable files", logged("TLS certificate files can be read again"))
	if strings.Contains(logs.String(), "do not load") {
		t.Fatalf("unreadable files were logged as a change that does not load:\n%s", logs.String())
	}
}
