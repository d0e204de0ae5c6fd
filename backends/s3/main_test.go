package s3_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/core/storage"
)

// TestMain stops the MinIO server the tests started once they are done.
func TestMain(m *testing.M) { minio.Main(m) }

// testPartSize is the smallest part size S3 allows, so that multipart uploads happen
// with small test objects.
const testPartSize = 5 << 20

// fixture is a fresh bucket on the test MinIO server.
type fixture struct {
	srv    *minio.Server
	bucket string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	srv := minio.Start(t)
	return &fixture{srv: srv, bucket: srv.NewBucket(t)}
}

func (f *fixture) config() s3.Config {
	return s3.Config{
		Bucket:          f.bucket,
		Endpoint:        f.srv.Endpoint,
		Region:          f.srv.Region,
		UsePathStyle:    true,
		AccessKeyID:     f.srv.AccessKey,
		SecretAccessKey: f.srv.SecretKey,
		PartSize:        testPartSize,
		// Short backoff, so that the checks with the server stopped finish quickly;
		// the number of attempts is the production default.
		MaxBackoff: 200 * time.Millisecond,
	}
}

// driver opens a new driver over the fixture's bucket; it is closed at t's end.
func (f *fixture) driver(t testing.TB, adjust ...func(*s3.Config)) *s3.Driver {
	t.Helper()
	cfg := f.config()
	for _, fn := range adjust {
		fn(&cfg)
	}
	d, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func (f *fixture) bucketHandle(t testing.TB) *storage.Bucket {
	t.Helper()
	return storage.NewBucket(f.driver(t))
}

// stored reads an object's raw bytes through minio-go, a client independent of the
// backend's SDK.
func (f *fixture) stored(t testing.TB, object string) []byte {
	t.Helper()
	obj, err := f.srv.Client(t).GetObject(context.Background(), f.bucket, object, miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatalf("minio-go GetObject(%s): %v", object, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("minio-go reading %s: %v", object, err)
	}
	return b
}

// incompleteUploads lists, through minio-go, the multipart uploads still open under
// prefix.
func (f *fixture) incompleteUploads(t testing.TB, prefix string) []string {
	t.Helper()
	var ids []string
	for u := range f.srv.Client(t).ListIncompleteUploads(context.Background(), f.bucket, prefix, true) {
		if u.Err != nil {
			t.Fatalf("minio-go ListIncompleteUploads: %v", u.Err)
		}
		ids = append(ids, u.Key+" "+u.UploadID)
	}
	return ids
}

// pattern returns n bytes that differ for every seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func readAll(t testing.TB, b *storage.Bucket, key string) []byte {
	t.Helper()
	got, _, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	return got
}

func wantContent(t testing.TB, b *storage.Bucket, key string, want []byte) {
	t.Helper()
	if got := readAll(t, b, key); !bytes.Equal(got, want) {
		t.Fatalf("%q holds %d bytes, want %d bytes (equal: false)", key, len(got), len(want))
	}
}

// hiddenReader hides every method but Read, as an upload stream would.
type hiddenReader struct{ r io.Reader }

func (h hiddenReader) Read(p []byte) (int, error) { return h.r.Read(p) }

func miniogoPutOptions() miniogo.PutObjectOptions { return miniogo.PutObjectOptions{} }
