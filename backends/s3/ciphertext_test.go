package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/metadata"
	miniogo "github.com/minio/minio-go/v7"
)

// TestStoredObjectsAreCiphertextUnderRandomNames stores content and metadata through
// the engine on MinIO, then reads every object back with minio-go (an S3 client
// independent of the backend's SDK): no object holds any plaintext of the upload, the
// slide set's text or a content key, and content objects carry 128-bit random names.
func TestStoredObjectsAreCiphertextUnderRandomNames(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var kek [32]byte
	rand.Read(kek[:])
	eng, err := conference.New(conference.Config{Bucket: f.bucketHandle(t), KEK: kek, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.CreateConference(ctx, conference.CreateParams{ID: "audit", Organizer: "sip:alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	// Plaintext with a recognisable marker every 64 bytes, so that any plaintext run
	// longer than that would contain one.
	marker := []byte("PLAINTEXT-MARKER-")
	plain := bytes.Repeat(append(marker, bytes.Repeat([]byte{'.'}, 64-len(marker))...), 50_000)
	st, err := eng.StoreContent(ctx, "audit", conference.SlideContent, "ppt", bytes.NewReader(plain), int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := eng.StoreContent(ctx, "audit", conference.HandoutContent, "", bytes.NewReader(plain[:10_000]), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.AddHandout(ctx, "audit", conference.HandoutParams{Blob: blob.Ref(), Size: blob.Size, OriginalFilename: "PLAINTEXT-MARKER-.txt"}); err != nil {
		t.Fatal(err)
	}
	set, err := eng.CreateSlideSet(ctx, "audit", "PLAINTEXT-MARKER- deck", "sip:alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.UpdateSlideSet(ctx, "audit", set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "PLAINTEXT-MARKER- slide"}, Document: st.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(ctx); err != nil { // snapshot: primaries and backups exist too
		t.Fatal(err)
	}

	secrets := [][]byte{marker, []byte(st.Key.Hex()), []byte(blob.Key.Hex())}
	randomName := regexp.MustCompile(`/(x[0-9a-f]{32}\.e[a-z0-9]+|[0-9a-f]{32}\.blb)!?$`)
	client := f.srv.Client(t)
	objects, contentObjects := 0, 0
	for obj := range client.ListObjects(ctx, f.bucket, miniogo.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		objects++
		raw := f.stored(t, obj.Key)
		for _, s := range secrets {
			if bytes.Contains(raw, s) {
				t.Errorf("object %s holds plaintext or a key (%q…)", obj.Key, s[:8])
			}
		}
		if strings.Contains(obj.Key, "/content/") || strings.HasPrefix(obj.Key, "content/") {
			contentObjects++
			if !randomName.MatchString(obj.Key) {
				t.Errorf("content object %s is not under a random 128-bit name", obj.Key)
			}
		}
	}
	if objects < 6 || contentObjects != 2 {
		t.Fatalf("read %d objects, %d of them content; want the conference, index, set and handout files and 2 content files", objects, contentObjects)
	}
}
