package backends_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/conformance/servers"
	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/conformance/servers/samba"
	"github.com/lectern/lectern/core/storage"
	miniogo "github.com/minio/minio-go/v7"
)

func TestMain(m *testing.M) { servers.Main(m, minio.Shutdown, samba.Shutdown) }

// roundTrip writes through a bucket opened by URL and reads it back through a second
// one opened by the same URL.
func roundTrip(t *testing.T, rawURL string) {
	t.Helper()
	ctx := context.Background()
	a, err := backends.Open(ctx, rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer a.Close()
	if _, err := a.PutBytes(ctx, "opened/by-url", []byte("hello"), storage.Condition{}); err != nil {
		t.Fatalf("put: %v", err)
	}
	b, err := backends.Open(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, _, err := b.ReadAll(ctx, "opened/by-url")
	if err != nil || string(got) != "hello" {
		t.Fatalf("read back %q, %v", got, err)
	}
}

func TestOpenS3URL(t *testing.T) {
	srv := minio.Start(t)
	bucket := srv.NewBucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	u := "s3://" + bucket + "/lectern?path_style=true&region=" + url.QueryEscape(srv.Region) + "&endpoint=" + url.QueryEscape(srv.Endpoint)
	roundTrip(t, u)
	// The object is where the URL's prefix says, as another S3 client sees it.
	found := false
	for obj := range srv.Client(t).ListObjects(context.Background(), bucket, miniogo.ListObjectsOptions{Prefix: "lectern/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		found = true
	}
	if !found {
		t.Fatal("nothing stored under the URL's prefix")
	}
}

func TestOpenSMBURL(t *testing.T) {
	srv := samba.Start(t)
	folder := srv.NewFolder(t)
	t.Setenv("LECTERN_SMB_PASSWORD", "")
	u := srv.URL(folder)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	q.Set("password_file", srv.PasswordFile(t))
	pu.RawQuery = q.Encode()
	roundTrip(t, pu.String())
}
