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
	"github.com/lectern/lectern/core/storage"
)

// BenchmarkContent compares a content download through the API (HTTPS on a real
// listener, token check, ranged storage Get) with reading the same object straight
// from the same disk backend ("raw"), and with the plainest HTTPS file server over the
// same file ("https-baseline": net/http's ServeFile, no router, no auth), which
// separates the cost of HTTP and TLS from the cost of the API. Compare by ratio:
//
//	go test -run '^$' -bench Content -benchtime 2s ./httpapi/
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

			b.Run("api", func(b *testing.B) {
				b.SetBytes(int64(size.n))
				for b.Loop() {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || n != int64(size.n) {
						b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
					}
				}
			})
			b.Run("https-baseline", func(b *testing.B) {
				file := filepath.Join(d.Root(), filepath.FromSlash(key))
				base := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.ServeFile(w, r, file)
				}))
				defer base.Close()
				bc := base.Client()
				b.SetBytes(int64(size.n))
				for b.Loop() {
					resp, err := bc.Get(base.URL + "/f")
					if err != nil {
						b.Fatal(err)
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || n != int64(size.n) {
						b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
					}
				}
			})
			b.Run("raw", func(b *testing.B) {
				b.SetBytes(int64(size.n))
				for b.Loop() {
					rc, _, err := bucket.Get(context.Background(), key, 0, -1)
					if err != nil {
						b.Fatal(err)
					}
					n, _ := io.Copy(io.Discard, rc)
					rc.Close()
					if n != int64(size.n) {
						b.Fatal("short read")
					}
				}
			})
		})
	}
}
