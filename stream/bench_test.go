package stream

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// BenchmarkUpload measures a 32 MiB upload through the endpoint (TLS, auth, tusd,
// encryption, part 0, append or join, rename) against writing the same bytes straight to the same disk
// backend; compare the two MB/s figures of one run.
//
//	go test -run '^$' -bench Upload -benchtime 5x ./stream
func BenchmarkUpload(b *testing.B) {
	const size = 32 << 20
	data := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	b.Run("raw-backend-put", func(b *testing.B) {
		be := newBackend(b)
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			if _, err := be.bucket.Put(context.Background(), "raw/object", bytes.NewReader(data), storage.PutOptions{Size: size}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The direct path is off, so that every side goes through part 0: one PATCH (the
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
			b.SetBytes(size)
			for b.Loop() {
				loc := in.create(conf, tok, size, meta("filename", "x.bin"))
				for off := 0; off < size; off += tc.chunk {
					if r := in.patch(loc, tok, int64(off), data[off:min(off+tc.chunk, size)]); r.status != http.StatusNoContent {
						b.Fatal(r)
					}
				}
			}
		})
	}
}
