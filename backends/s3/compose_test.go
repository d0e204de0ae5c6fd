package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// TestComposeLeavesNoUploads: a Compose that loses (the destination exists, found
// only when it completes) aborts its multipart upload, and a cancelled one leaves
// none; a Compose that wins reads back exactly the
// sources' bytes, by range too (the header of the first source became dst's and is
// hidden like any other).
func TestComposeLeavesNoUploads(t *testing.T) {
	const partMin = 5 << 20 // S3's least part size
	f := newFixture(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	one, two := pattern(partMin+5, 1), pattern(1000, 2)
	for k, v := range map[string][]byte{"src/one": one, "src/two": two, "dst/taken": []byte("taken")} {
		if _, err := b.PutBytes(ctx, k, v, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	srcs := []string{"src/one", "src/two"}

	if _, err := b.Compose(ctx, "dst/taken", srcs); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("Compose onto an existing key = %v, want ErrPrecondition", err)
	}
	wantContent(t, b, "dst/taken", []byte("taken"))
	if left := f.incompleteUploads(t, "dst/taken"); len(left) != 0 {
		t.Fatalf("multipart uploads left behind by a losing Compose: %q", left)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Compose(cctx, "dst/cancelled", srcs); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Compose = %v, want context.Canceled", err)
	}
	if left := f.incompleteUploads(t, "dst/cancelled"); len(left) != 0 {
		t.Fatalf("multipart uploads left behind by a cancelled Compose: %q", left)
	}

	if _, err := b.Compose(ctx, "dst/new", srcs); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(one), two...)
	wantContent(t, b, "dst/new", want)
	rc, _, err := b.Get(ctx, "dst/new", partMin-3, 20)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, want[partMin-3:partMin+17]) {
		t.Fatalf("range across the sources' seam = %q, %v; want %q", got, err, want[partMin-3:partMin+17])
	}
}
