package httpapi

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// BenchmarkContent compares a content download through the API (HTTPS on a real
// listener, token check, ranged storage Get) with reading the same object straight
// from the same disk backend ("raw"), and with the plainest HTTPS file server over the
// same file ("https-baseline": net/http's ServeFile, no router, no auth), which
// separates the cost of HTTP and TLS from the cost of the API. Each pair runs both
// sides in every iteration, alternating (conformance.RunPaired), which reports the
// ratio of the second side named over the first:
//
//	go test -run '^$' -bench Content -benchtime 1s -count 3 ./httpapi/
func BenchmarkContent(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"4KiB", 4 << 10}, {"8MiB", 8 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			d, err := disk.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = d.Close() })
			bucket := storage.NewBucket(d)
			auth, _ := NewAuthority(testSecret)
			s, err := New(Config{Content: bucket, Auth: auth, Logger: discardLogger()})
			if err != nil {
				b.Fatal(err)
			}
			srv := newBenchServer(b, s)
			data := make([]byte, size.n)
			_, _ = rand.Read(data)
			key := "content/" + testOrg + "/" + testConf + "/" + testName
			if _, err := bucket.PutBytes(context.Background(), key, data, storage.Condition{}); err != nil {
				b.Fatal(err)
			}
			tok, _, _ := auth.Mint(TokenSpec{Role: RoleAttendee, Conference: testConf, TTL: 3600e9})
			url := srv.URL + ContentPath(testOrg, testConf, testName)
			client := srv.Client()

			file := filepath.Join(d.Root(), filepath.FromSlash(key))
			base := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.ServeFile(w, r, file)
			}))
			b.Cleanup(base.Close)
			bc := base.Client()
			check := func(b *testing.B, status int, n int64) {
				if status != 200 || n != int64(size.n) {
					b.Fatalf("status %d, %d bytes", status, n)
				}
			}
			api := conformance.PairedSide{Name: "api", Run: func(b *testing.B, _ int) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				check(b, resp.StatusCode, n)
			}}
			baseline := conformance.PairedSide{Name: "https-baseline", Run: func(b *testing.B, _ int) {
				resp, err := bc.Get(base.URL + "/f")
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				check(b, resp.StatusCode, n)
			}}
			raw := conformance.PairedSide{Name: "raw", Run: func(b *testing.B, _ int) {
				rc, _, err := bucket.Get(context.Background(), key, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, rc)
				rc.Close()
				check(b, 200, n)
			}}
			b.Run("api-vs-raw", func(b *testing.B) { conformance.RunPaired(b, int64(size.n), raw, api) })
			b.Run("api-vs-https-baseline", func(b *testing.B) { conformance.RunPaired(b, int64(size.n), baseline, api) })
			b.Run("https-baseline-vs-raw", func(b *testing.B) { conformance.RunPaired(b, int64(size.n), raw, baseline) })
		})
	}
}
