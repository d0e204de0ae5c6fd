package conference_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/conference/conferencetest"
	"github.com/lectern/lectern/core/storage"
)

// BenchmarkContent measures the engine's content path against raw I/O of the same
// bytes on the same disk backend, both sides in every iteration, alternating
// (conformance.RunPaired); docs/benchmarks.md has the ratios:
//
//	go test -run '^$' -bench Content -benchtime 6x -count 2 ./core/conference
//
// store: raw-put is Bucket.Put of the plaintext to a new key; engine-store is
// StoreContent (encrypt + put of the ciphertext, create-only). Both write into the
// conference's content folder, and each object is deleted and the file system synced
// untimed, so that no put pays for an earlier one's freed blocks or dirty pages.
// open: raw-get is Bucket.Get of the plaintext read to the end; engine-open is
// OpenContent (ranged get + decrypt + authenticate every segment), both from the page
// cache.
func BenchmarkContent(b *testing.B) {
	for _, size := range []int{1 << 20, 256 << 20} {
		data := make([]byte, size)
		rand.Read(data)
		name := fmt.Sprintf("%dMiB", size>>20)
		ctx := context.Background()

		// store-vs-stream-put: the raw side puts the plaintext from a plain io.Reader
		// (its WriterTo hidden), as a plain file copy reads a stream through a
		// buffer; the engine's put of the ciphertext is such a stream too.
		for _, raw := range []struct {
			bench, side string
			stream      bool
		}{{"store", "raw-put", false}, {"store-vs-stream-put", "raw-stream-put", true}} {
			b.Run(raw.bench+"/"+name, func(b *testing.B) {
				f := newContentBench(b, data)
				var stored string
				conformance.RunPaired(b, int64(size), conformance.PairedSide{
					Name: raw.side,
					Run: func(b *testing.B, i int) {
						var r io.Reader = bytes.NewReader(data)
						if raw.stream {
							r = struct{ io.Reader }{r}
						}
						if _, err := f.bucket.Put(ctx, f.rawKey(i), r, storage.PutOptions{Size: int64(size)}); err != nil {
							b.Fatal(err)
						}
					},
					Cleanup: func(b *testing.B, i int) {
						if err := f.bucket.Delete(ctx, f.rawKey(i)); err != nil {
							b.Fatal(err)
						}
						f.settle(b)
					},
				}, conformance.PairedSide{
					Name: "engine-store",
					Run: func(b *testing.B, _ int) {
						st, err := f.eng.StoreContent(ctx, conferencetest.BenchConference, conference.SlideContent, "bin", bytes.NewReader(data), int64(size))
						if err != nil {
							b.Fatal(err)
						}
						stored = st.Name
					},
					Cleanup: func(b *testing.B, _ int) {
						if err := f.eng.DeleteContent(ctx, conferencetest.BenchConference, stored); err != nil {
							b.Fatal(err)
						}
						f.settle(b)
					},
				})
			})
		}
		b.Run("open/"+name, func(b *testing.B) {
			f := newContentBench(b, data)
			if _, err := f.bucket.Put(ctx, f.rawKey(0), bytes.NewReader(data), storage.PutOptions{Size: int64(size)}); err != nil {
				b.Fatal(err)
			}
			drain := func(b *testing.B, rc io.ReadCloser) {
				n, err := io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil || n != int64(size) {
					b.Fatalf("read %d bytes, want %d: %v", n, size, err)
				}
			}
			conformance.RunPaired(b, int64(size), conformance.PairedSide{
				Name: "raw-get",
				Run: func(b *testing.B, _ int) {
					rc, _, err := f.bucket.Get(ctx, f.rawKey(0), 0, -1)
					if err != nil {
						b.Fatal(err)
					}
					drain(b, rc)
				},
			}, conformance.PairedSide{
				Name: "engine-open",
				Run: func(b *testing.B, _ int) {
					rc, _, err := f.eng.OpenContent(ctx, conferencetest.BenchConference, f.stored.Name, f.stored.Key, 0, -1)
					if err != nil {
						b.Fatal(err)
					}
					drain(b, rc)
				},
			})
		})
	}
}

// contentBench is an engine on a disk backend in a new folder, with one content
// file stored (it keeps the content folder, where the raw side writes too).
type contentBench struct {
	root   string
	bucket *storage.Bucket
	eng    *conference.Engine
	stored conference.Stored
	folder string // the content folder's key prefix, ending in "/"
}

func newContentBench(b *testing.B, data []byte) *contentBench {
	b.Helper()
	ctx := context.Background()
	f := &contentBench{root: b.TempDir()}
	d, err := disk.New(f.root)
	if err != nil {
		b.Fatal(err)
	}
	f.bucket = storage.NewBucket(d)
	f.eng = conferencetest.BenchEngine(b, f.bucket)
	f.stored, err = f.eng.StoreContent(ctx, conferencetest.BenchConference, conference.SlideContent, "bin", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	// The content folder is wherever the engine put that file: the raw side writes
	// beside it, so that where the file system places a folder favours neither side.
	for attrs, err := range f.bucket.List(ctx, "") {
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasSuffix(attrs.Key, "/"+f.stored.Name) {
			f.folder = strings.TrimSuffix(attrs.Key, f.stored.Name)
		}
	}
	if f.folder == "" {
		b.Fatalf("stored content %s not found in the bucket", f.stored.Name)
	}
	return f
}

func (f *contentBench) rawKey(i int) string { return fmt.Sprintf("%sraw-%d.bin", f.folder, i) }

// settle writes out the whole file system (syncfs), so that no earlier work is left
// for the next timed operation to pay for.
func (f *contentBench) settle(b *testing.B) {
	d, err := os.Open(f.root)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		b.Fatal(err)
	}
}
