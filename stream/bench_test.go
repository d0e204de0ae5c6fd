package stream

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// BenchmarkUpload measures a 32 MiB upload through the endpoint (TLS, auth, tusd,
// encryption, part 0, append or join, rename) against a Put of the same bytes
// straight to the same disk backend, beside the uploaded content: both in every
// iteration, alternating (conformance.RunPaired), which reports the ratio
// upload / raw put. Each side's object is deleted and the file system synced untimed.
//
//	go test -run '^$' -bench Upload -benchtime 5x -count 3 ./stream
func BenchmarkUpload(b *testing.B) {
	const size = 32 << 20
	data := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	ctx := context.Background()
	// The direct path is off, so that every upload goes through part 0: one PATCH (the
	// part is renamed into the content file), 8 MiB and 1 MiB PATCHes (appended to
	// part 0 in place, then renamed; "-parts": the same disk driver with Append
	// hidden, as on a backend without it: one part per PATCH, joined at the end).
	for _, tc := range []struct {
		name    string
		chunk   int
		backend func(testing.TB) *backend
	}{
		{"tus-one-patch", size, newBackend},
		{"tus-8MiB-patches", 8 << 20, newBackend},
		{"tus-8MiB-patches-parts", 8 << 20, newBackendWithoutAppend},
		{"tus-1MiB-patches", 1 << 20, newBackend},
		{"tus-1MiB-patches-parts", 1 << 20, newBackendWithoutAppend},
	} {
		b.Run(tc.name, func(b *testing.B) {
			be := tc.backend(b)
			in := be.start(b, withLimits(bigLimits()), withStream(func(c *Config) { c.DirectMax = -1 }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			settleDir := b.TempDir() // on the file system of the backend's TempDir
			settle := func(b *testing.B) {
				d, err := os.Open(settleDir)
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				if err := unix.Syncfs(int(d.Fd())); err != nil {
					b.Fatal(err)
				}
			}
			upload := func(b *testing.B) string {
				loc := in.create(conf, tok, size, meta("filename", "x.bin"))
				var r reply
				for off := 0; off < size; off += tc.chunk {
					if r = in.patch(loc, tok, int64(off), data[off:min(off+tc.chunk, size)]); r.status != http.StatusNoContent {
						b.Fatal(r)
					}
				}
				name := r.header.Get(HeaderContentName)
				if name == "" {
					b.Fatalf("the last PATCH named no content: %v", r.header)
				}
				return name
			}
			// A first upload, kept, makes the conference's content folder; the raw
			// side writes beside it, so that where the file system places a folder
			// favours neither side.
			first := upload(b)
			folder := ""
			for a, err := range be.bucket.List(ctx, "") {
				if err != nil {
					b.Fatal(err)
				}
				if strings.HasSuffix(a.Key, "/"+first) {
					folder = strings.TrimSuffix(a.Key, first)
				}
			}
			if folder == "" {
				b.Fatalf("content %s not found in the bucket", first)
			}
			rawKey := func(i int) string { return fmt.Sprintf("%sraw-%d.bin", folder, i) }
			var stored string
			conformance.RunPaired(b, size, conformance.PairedSide{
				Name: "raw-put",
				Run: func(b *testing.B, i int) {
					if _, err := be.bucket.Put(ctx, rawKey(i), bytes.NewReader(data), storage.PutOptions{Size: size}); err != nil {
						b.Fatal(err)
					}
				},
				Cleanup: func(b *testing.B, i int) {
					if err := be.bucket.Delete(ctx, rawKey(i)); err != nil {
						b.Fatal(err)
					}
					settle(b)
				},
			}, conformance.PairedSide{
				Name: "upload",
				Run:  func(b *testing.B, _ int) { stored = upload(b) },
				Cleanup: func(b *testing.B, _ int) {
					if err := in.engine.DeleteContent(ctx, conf, stored); err != nil {
						b.Fatal(err)
					}
					settle(b)
				},
			})
		})
	}
}
