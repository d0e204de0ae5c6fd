package smb

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/conformance/servers/samba"
	"github.com/lectern/lectern/core/storage"
)

func TestMain(m *testing.M) { samba.Main(m) }

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openOn opens a driver on folder of srv's share; query adds URL parameters.
func openOn(t testing.TB, srv *samba.Server, folder, query string) *Driver {
	t.Helper()
	raw := srv.URL(folder) + "?password_file=" + url.QueryEscape(srv.PasswordFile(t))
	if query != "" {
		raw += "&" + query
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenURL(testCtx(t), u)
	if err != nil {
		t.Fatalf("OpenURL(%s): %v", u.Redacted(), err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// fresh returns a bucket on a new folder of the test share, and the folder.
func fresh(t testing.TB) (*storage.Bucket, *samba.Server, string) {
	t.Helper()
	srv := samba.Start(t)
	folder := srv.NewFolder(t)
	return storage.NewBucket(openOn(t, srv, folder, "")), srv, folder
}

func harness(t testing.TB) conformance.Harness {
	srv := samba.Start(t)
	h := conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			folder := srv.NewFolder(t)
			return func(t testing.TB) storage.Driver { return openOn(t, srv, folder, "") }
		},
		Large: true,
	}
	if srv.Restartable() {
		h.Server = srv
	}
	return h
}

func TestConformance(t *testing.T) {
	conformance.Run(t, harness(t))
}
