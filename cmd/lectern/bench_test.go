package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/conference"
)

// allocated counts the bytes a side allocates over its runs (runtime.MemStats.
// TotalAlloc): in a paired benchmark B/op mixes both sides. Reading the statistics
// stops the world for microseconds, against downloads and uploads of tens of
// milliseconds.
type allocated struct{ total, runs uint64 }

func (a *allocated) measure(fn func()) {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	fn()
	runtime.ReadMemStats(&m1)
	a.total += m1.TotalAlloc - m0.TotalAlloc
	a.runs++
}

func (a *allocated) report(b *testing.B, unit string) {
	if a.runs > 0 {
		b.ReportMetric(float64(a.total)/float64(a.runs), unit)
	}
}

// BenchmarkDownload compares `lectern download` (GET, decrypt, authenticate every
// segment, write a temporary file, rename) with the raw thing in the same run: the
// same GET of the ciphertext written straight to a file, from the same lecternd.
// Both run in every iteration, alternating (conformance.RunPaired), which reports the
// ratio download / raw GET; raw-B/op and lectern-B/op (bytes allocated per run of
// each side) show the CLI's memory does not grow with the file.
//
//	go test ./cmd/lectern -run '^$' -bench Download -benchtime 5x -count 3
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

	var rawAlloc, oursAlloc allocated
	conformance.RunPaired(b, size, conformance.PairedSide{
		Name: "raw",
		Run: func(b *testing.B, _ int) {
			rawAlloc.measure(func() {
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
			})
		},
	}, conformance.PairedSide{
		Name: "lectern",
		Run: func(b *testing.B, _ int) {
			oursAlloc.measure(func() {
				var out, errOut bytes.Buffer
				lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
				code := run(ctx, []string{"download", "--force", "--key", st.Key.Hex(), "--out", filepath.Join(dir, "plain"), st.URLPath},
					strings.NewReader(""), &out, &errOut, lookup)
				if code != 0 {
					b.Fatalf("exit %d: %s", code, errOut.String())
				}
			})
		},
	})
	rawAlloc.report(b, "raw-B/op")
	oursAlloc.report(b, "lectern-B/op")
}

// BenchmarkUpload compares `lectern upload` (8 MiB PATCHes, a resume state file;
// with and without an SHA-1 Upload-Checksum) with the least a tus client can do against
// the same lecternd: one POST and one PATCH carrying the whole file. Each variant is
// paired with that raw upload, both in every iteration, alternating
// (conformance.RunPaired), which reports the ratio lectern / raw.
//
//	go test ./cmd/lectern -run '^$' -bench Upload -benchtime 5x -count 3
func BenchmarkUpload(b *testing.B) {
	if testing.Short() {
		b.Skip("starts lecternd")
	}
	const size = 32 << 20
	s := startServer(b, filepath.Join(b.TempDir(), "lectern-data"))
	env := s.adminEnv(b)
	ctx := context.Background()
	file := filepath.Join(b.TempDir(), "talk.bin")
	if err := os.WriteFile(file, randomBytes(b, size), 0o600); err != nil {
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
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	n := 0
	newConference := func(b *testing.B) string {
		n++
		id := fmt.Sprintf("bench-%d", n)
		var out, errOut bytes.Buffer
		if code := run(ctx, []string{"conference", "create", "--id", id, "--organizer", "sip:b@example.com"}, nil, &out, &errOut, lookup); code != 0 {
			b.Fatalf("create: %s", errOut.String())
		}
		return id
	}
	// Every upload goes to a conference of its own, to stay within the per-conference
	// quota; the next one is made in the untimed cleanup.
	rawConf := ""
	raw := conformance.PairedSide{
		Name: "raw",
		Run: func(b *testing.B, _ int) {
			req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/conferences/"+rawConf+"/uploads", nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
			req.Header.Set("Tus-Resumable", tusVersion)
			req.Header.Set("Upload-Length", fmt.Sprint(size))
			resp, err := hc.Do(req)
			if err != nil || resp.StatusCode != http.StatusCreated {
				b.Fatalf("POST: %v %v", err, resp)
			}
			resp.Body.Close()
			loc, _ := req.URL.Parse(resp.Header.Get("Location"))
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			req, _ = http.NewRequest(http.MethodPatch, loc.String(), f)
			req.ContentLength = size
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
			req.Header.Set("Tus-Resumable", tusVersion)
			req.Header.Set("Content-Type", "application/offset+octet-stream")
			req.Header.Set("Upload-Offset", "0")
			resp, err = hc.Do(req)
			f.Close()
			if err != nil || resp.StatusCode != http.StatusNoContent || resp.Header.Get("Lectern-Content-Key") == "" {
				b.Fatalf("PATCH: %v %v", err, resp)
			}
			resp.Body.Close()
		},
		Cleanup: func(b *testing.B, _ int) { rawConf = newConference(b) },
	}
	for _, v := range []struct {
		name  string
		flags []string
	}{
		{"lectern-upload", nil},
		{"lectern-upload-checksum", []string{"--checksum"}},
		{"lectern-upload-one-patch", []string{"--chunk-size", fmt.Sprint(size)}},
	} {
		b.Run(v.name, func(b *testing.B) {
			rawConf = newConference(b)
			conf := newConference(b)
			var oursAlloc allocated
			conformance.RunPaired(b, size, raw, conformance.PairedSide{
				Name: "lectern",
				Run: func(b *testing.B, _ int) {
					oursAlloc.measure(func() {
						var out, errOut bytes.Buffer
						args := append(append([]string{"upload", "--conference", conf}, v.flags...), file)
						if code := run(ctx, args, nil, &out, &errOut, lookup); code != 0 {
							b.Fatalf("exit %d: %s", code, errOut.String())
						}
					})
				},
				Cleanup: func(b *testing.B, _ int) { conf = newConference(b) },
			})
			oursAlloc.report(b, "lectern-B/op")
		})
	}
}
