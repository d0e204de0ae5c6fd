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
	return openURLString(t, raw)
}

// openURLString opens a driver on the smb:// URL raw, closed at cleanup.
func openURLString(t testing.TB, raw string) *Driver {
	t.Helper()
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

// harness gives every check a new folder of the test share. A folder's URL (with the
// password file, which lives as long as the parent test) locates it for the suite's
// child processes, which open the parent's share and start no server of their own.
func harness(t testing.TB) conformance.Harness {
	if conformance.ChildProcess() {
		return conformance.Harness{OpenLocation: openLocation}
	}
	srv := samba.Start(t)
	h := conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			folder := srv.NewFolder(t)
			return func(t testing.TB) storage.Driver { return openOn(t, srv, folder, "") }
		},
		NewLocation: func(t testing.TB) string {
			return srv.URL(srv.NewFolder(t)) + "?password_file=" + url.QueryEscape(srv.PasswordFile(t))
		},
		OpenLocation: openLocation,
		Large:        true,
	}
	if srv.Restartable() {
		h.Server = srv
	}
	return h
}

// openLocation opens a driver on the share folder a harness location names.
func openLocation(t testing.TB, location string) storage.Driver { return openURLString(t, location) }

func TestConformance(t *testing.T) {
	conformance.Run(t, harness(t))
}
