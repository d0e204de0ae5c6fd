package s3_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/core/storage"
)

// TestRemoveLeftovers leaves multipart uploads behind as a process killed in the
// middle of a put would (initiated, one part stored, never completed), through
// minio-go, and checks that RemoveLeftovers aborts exactly the driver's own that
// began before the given time: not newer ones, not another program's in the same
// bucket, and no stored object.
func TestRemoveLeftovers(t *testing.T) {
	f := newFixture(t)
	d := f.driver(t, func(c *s3.Config) { c.Prefix = "lectern" })
	b := storage.NewBucket(d)
	ctx := context.Background()
	core := miniogo.Core{Client: f.srv.Client(t)}
	leave := func(object string) {
		t.Helper()
		id, err := core.NewMultipartUpload(ctx, f.bucket, object, miniogo.PutObjectOptions{})
		if err != nil {
			t.Fatalf("NewMultipartUpload(%s): %v", object, err)
		}
		part := bytes.Repeat([]byte("p"), testPartSize)
		if _, err := core.PutObjectPart(ctx, f.bucket, object, id, 1, bytes.NewReader(part), int64(len(part)), miniogo.PutObjectPartOptions{}); err != nil {
			t.Fatalf("PutObjectPart(%s): %v", object, err)
		}
	}
	stored := []byte("a stored object")
	if _, err := b.Put(ctx, "content/kept", bytes.NewReader(stored), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ours := []string{d.ObjectKey("uploads/u1/part-0"), d.ObjectKey("content/x0123")}
	foreign := []string{"other/file", "lectern/no-terminator", "lectern/" + strings.Repeat("!", 2)}
	for _, o := range append(slices.Clone(ours), foreign...) {
		leave(o)
	}

	if n, err := d.RemoveLeftovers(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("RemoveLeftovers(an hour ago) = %d, %v; want 0 removed: every upload is newer", n, err)
	}
	removed, ok, err := b.RemoveLeftovers(ctx, time.Now().Add(time.Minute))
	if err != nil || !ok || removed != len(ours) {
		t.Fatalf("Bucket.RemoveLeftovers(now) = %d, %v, %v; want %d removed", removed, ok, err, len(ours))
	}
	var left []string
	for _, u := range f.incompleteUploads(t, "") {
		left = append(left, strings.Fields(u)[0])
	}
	slices.Sort(left)
	want := slices.Sorted(slices.Values(foreign))
	if !slices.Equal(left, want) {
		t.Fatalf("incomplete uploads left: %q, want only the foreign %q", left, want)
	}
	wantContent(t, b, "content/kept", stored)

	if n, err := d.RemoveLeftovers(ctx, time.Now().Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("a second RemoveLeftovers = %d, %v; want 0, nil", n, err)
	}
	d.Close()
	if _, err := d.RemoveLeftovers(ctx, time.Now()); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("RemoveLeftovers after Close: %v, want ErrClosed", err)
	}
}
