package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
)

// BenchmarkDownload compares `lectern download` (GET, decrypt, authenticate every
// segment, write a temporary file, rename) with the raw thing in the same run: the
// same GET of the ciphertext written straight to a file, from the same lecternd.
// B/op shows the CLI's memory does not grow with the file.
//
//	go test ./cmd/lectern -run '^$' -bench Download -benchtime 5x
func BenchmarkDownload(b *testing.B) {
	if testing.Short() {
		b.Skip("starts lecternd")
	}
	const size = 48 << 20 // under the default 50 MiB file limit
	s := startServer(b, filepath.Join(b.TempDir(), "lectern-data"))
	env := s.adminEnv(b)
	env["LECTERN_STATE_DIR"] = b.TempDir()
	e := engineOn(b, s)
	ctx := context.Background()
	if _, err := e.CreateConference(ctx, conference.CreateParams{ID: "bench", Organizer: "sip:bench@example.com"}); err != nil {
		b.Fatal(err)
	}
	st, err := e.StoreContent(ctx, "bench", conference.SlideContent, "bin", bytes.NewReader(randomBytes(b, size)), size)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := os.ReadFile(s.adminFile())
	if err != nil {
		b.Fatal(err)
	}
	pemBytes, _ := os.ReadFile(s.caFile())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	dir := b.TempDir()

	b.Run("raw-get-to-file", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodGet, s.url+st.URLPath, nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			f, err := os.Create(filepath.Join(dir, "raw"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			f.Close()
		}
	})
	b.Run("lectern-download", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			var out, errOut bytes.Buffer
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			code := run(ctx, []string{"download", "--force", "--key", st.Key.Hex(), "--out", filepath.Join(dir, "plain"), st.URLPath},
				strings.NewReader(""), &out, &errOut, lookup)
			if code != 0 {
				b.Fatalf("exit %d: %s", code, errOut.String())
			}
		}
	})
}
