package smb

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lectern/lectern/conformance/servers/samba"
	"github.com/lectern/lectern/core/storage"
)

func openRaw(ctx context.Context, raw string) (*storage.Bucket, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	d, err := OpenURL(ctx, u)
	if err != nil {
		return nil, err
	}
	return storage.NewBucket(d), nil
}

func listKeys(t testing.TB, bk *storage.Bucket, prefix string) []string {
	t.Helper()
	keys := []string{}
	for a, err := range bk.List(testCtx(t), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		keys = append(keys, a.Key)
	}
	return keys
}

// TestRedialAfterRestart: Samba killed and started again under an open driver. While
// it is down every operation fails as retryable; once it is back the very next
// operation of the same driver works, with the data intact.
func TestRedialAfterRestart(t *testing.T) {
	bk, srv, _ := fresh(t)
	if !srv.Restartable() {
		t.Skip("the share is not ours to restart")
	}
	ctx := testCtx(t)
	if _, err := bk.PutBytes(ctx, "r/before", []byte("kept"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	// A body open across the restart fails as retryable too.
	big := bytes.Repeat([]byte("x"), 16<<20)
	if _, err := bk.PutBytes(ctx, "r/big", big, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := bk.Get(ctx, "r/big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			srv.Start(t)
		}
	})
	if _, err := bk.Stat(ctx, "r/before"); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Stat with the server down: %v, want ErrUnavailable", err)
	}
	if _, err := bk.PutBytes(ctx, "r/during", []byte("x"), storage.Condition{}); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Put with the server down: %v, want ErrUnavailable", err)
	}
	buf := make([]byte, 8<<20)
	var readErr error
	for readErr == nil {
		_, readErr = rc.Read(buf)
	}
	if !errors.Is(readErr, storage.ErrUnavailable) {
		t.Fatalf("reading a body across the outage: %v, want ErrUnavailable", readErr)
	}
	rc.Close()
	srv.Start(t)
	restarted = true
	got, _, err := bk.ReadAll(ctx, "r/before")
	if err != nil || string(got) != "kept" {
		t.Fatalf("first read after the restart: %q, %v", got, err)
	}
	if _, err := bk.PutBytes(ctx, "r/after", []byte("new"), storage.Condition{IfNotExists: true}); err != nil {
		t.Fatalf("first put after the restart: %v", err)
	}
	if keys := listKeys(t, bk, "r/"); !slices.Equal(keys, []string{"r/after", "r/before", "r/big"}) {
		t.Fatalf("keys after the restart: %v", keys)
	}
}

// TestVersionsAgree: Put, Stat, Get and List report one version for one object, and
// every put makes a new one, even of identical bytes in quick succession.
func TestVersionsAgree(t *testing.T) {
	bk, _, _ := fresh(t)
	ctx := testCtx(t)
	seen := map[string]bool{}
	for range 20 {
		a, err := bk.PutBytes(ctx, "v/same", []byte("same bytes"), storage.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		if seen[a.Version] {
			t.Fatalf("version %s came back for a second put", a.Version)
		}
		seen[a.Version] = true
		st, err := bk.Stat(ctx, "v/same")
		if err != nil || st.Version != a.Version || st.Size != a.Size {
			t.Fatalf("Stat %+v (%v) disagrees with Put %+v", st, err, a)
		}
		rc, ga, err := bk.Get(ctx, "v/same", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if ga.Version != a.Version {
			t.Fatalf("Get version %s, Put %s", ga.Version, a.Version)
		}
		for la, err := range bk.List(ctx, "v/") {
			if err != nil || la.Version != a.Version {
				t.Fatalf("List version %s (%v), Put %s", la.Version, err, a.Version)
			}
		}
	}
}

// TestListSkipsInternalFilesAndOrders: temporary and lock files never show, and keys
// come in byte order across folder boundaries.
func TestListSkipsInternalFilesAndOrders(t *testing.T) {
	bk, srv, folder := fresh(t)
	ctx := testCtx(t)
	keys := []string{"a-b", "a/b", "a/b0/c", "a.b", "a0", "b/~", "b/-/x", "b_"}
	for _, k := range keys {
		if _, err := bk.PutBytes(ctx, k, []byte(k), storage.Condition{}); err != nil {
			t.Fatalf("Put(%s): %v", k, err)
		}
	}
	if srv.Root != "" {
		for _, junk := range []string{".tmp-0123", "a/.b.lock", "b/.tmp-x"} {
			if err := os.WriteFile(filepath.Join(srv.Root, folder, junk), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if got := listKeys(t, bk, ""); !slices.Equal(got, want) {
		t.Fatalf("List: %v, want %v", got, want)
	}
	for _, prefix := range []string{"a", "a/", "a/b", "b/", "b/-", "c"} {
		var w []string
		for _, k := range want {
			if strings.HasPrefix(k, prefix) {
				w = append(w, k)
			}
		}
		if got := listKeys(t, bk, prefix); !slices.Equal(got, append([]string{}, w...)) {
			t.Errorf("List(%q): %v, want %v", prefix, got, w)
		}
	}
}

// TestDeletePrunesFolders: deleting the last key of a folder removes the folder, up to
// (not including) the driver's own folder.
func TestDeletePrunesFolders(t *testing.T) {
	bk, srv, folder := fresh(t)
	if srv.Root == "" {
		t.Skip("needs the share's local folder")
	}
	ctx := testCtx(t)
	for _, k := range []string{"p/q/r/one", "p/two"} {
		if _, err := bk.PutBytes(ctx, k, []byte("x"), storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bk.Delete(ctx, "p/q/r/one"); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(srv.Root, folder)
	if _, err := os.Stat(filepath.Join(root, "p", "q")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("p/q still exists after its last key went: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "p", "two")); err != nil {
		t.Fatalf("the neighbour went too: %v", err)
	}
	if err := bk.Delete(ctx, "p/two"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "p")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("p still exists: %v", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("the driver's own folder was pruned: %v", err)
	}
}

// TestLongSegmentKey: a 255-byte name (the limit) works; its lock name is hashed to fit.
func TestLongSegmentKey(t *testing.T) {
	bk, _, _ := fresh(t)
	ctx := testCtx(t)
	key := "long/" + strings.Repeat("n", storage.MaxSegmentLength)
	if _, err := bk.PutBytes(ctx, key, []byte("x"), storage.Condition{IfNotExists: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := bk.PutBytes(ctx, key, []byte("y"), storage.Condition{IfNotExists: true}); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("second create: %v", err)
	}
}

// TestEncryptedShare: encrypt=true and sign=true against a share that refuses
// unencrypted access: if the client did not encrypt, Samba would refuse every request.
func TestEncryptedShare(t *testing.T) {
	srv := samba.Start(t)
	if srv.EncryptedShare == "" {
		t.Skip("no share that requires encryption")
	}
	ctx := testCtx(t)
	pw := srv.PasswordFile(t)
	bk, err := openRaw(ctx, srv.EncryptedURL(srv.NewFolder(t))+"?password_file="+pw+"&encrypt=true&sign=true")
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	// The share really refuses a client that cannot encrypt (else this test proves
	// nothing): smbclient limited to SMB 2.1, which has no encryption, is turned away.
	// (An SMB3 client must encrypt once the share asks, whatever its own settings.)
	if _, err := exec.LookPath("smbclient"); err == nil {
		host, port, _ := strings.Cut(srv.Host, ":")
		cmd := exec.Command("smbclient", "//"+host+"/"+srv.EncryptedShare, "-p", port, "-U", srv.User,
			"--option=client max protocol=SMB2_10", "-c", "ls")
		cmd.Env = append(cmd.Environ(), "PASSWD="+srv.Password)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("the encrypted share let an unencrypted client in:\n%s", out)
		}
	}
	data := bytes.Repeat([]byte("secret"), 500_000)
	if _, err := bk.PutBytes(ctx, "enc/obj", data, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	got, _, err := bk.ReadAll(ctx, "enc/obj")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
}

func TestWrongPasswordIsPermission(t *testing.T) {
	srv := samba.Start(t)
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := openRaw(testCtx(t), srv.URL("x")+"?password_file="+p)
	if !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("open with a wrong password: %v, want ErrPermission", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatal("the error message contains the password")
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	// Port 1 on loopback: nothing listens there.
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("pw"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := openRaw(testCtx(t), "smb://u@127.0.0.1:1/share?password_file="+p)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("open of a closed port: %v, want ErrUnavailable", err)
	}
}

func TestParseURL(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url, env string
		want           Config
		wantErr        bool
	}{
		{name: "full", url: "smb://CORP;alice@files.example:4450/data/lectern/store?password_file=" + pwFile + "&sign=true&encrypt=1&max_key_length=200&inflight=4",
			want: Config{Host: "files.example:4450", Domain: "CORP", User: "alice", Password: "s3cret", Share: "data", Path: "lectern/store", Sign: true, Encrypt: true, MaxKeyLength: 200, InFlight: 4}},
		{name: "password from env", url: "smb://bob@host/share", env: "fromenv",
			want: Config{Host: "host", User: "bob", Password: "fromenv", Share: "share"}},
		{name: "folder with a space", url: "smb://bob@host/share/Lectern%20Data/v1", env: "x",
			want: Config{Host: "host", User: "bob", Password: "x", Share: "share", Path: "Lectern Data/v1"}},
		{name: "password in URL refused", url: "smb://bob:pw@host/share", env: "x", wantErr: true},
		{name: "no password", url: "smb://bob@host/share", wantErr: true},
		{name: "no share", url: "smb://bob@host/", env: "x", wantErr: true},
		{name: "no user", url: "smb://host/share", env: "x", wantErr: true},
		{name: "wrong scheme", url: "cifs://bob@host/share", env: "x", wantErr: true},
		{name: "unknown parameter", url: "smb://bob@host/share?colour=blue", env: "x", wantErr: true},
		{name: "bad number", url: "smb://bob@host/share?inflight=0", env: "x", wantErr: true},
		{name: "missing password file", url: "smb://bob@host/share?password_file=" + filepath.Join(dir, "none"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(PasswordEnv, tt.env)
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseURL(u)
			if tt.wantErr {
				if !errors.Is(err, storage.ErrInvalidArgument) {
					t.Fatalf("ParseURL: %v, want ErrInvalidArgument", err)
				}
				if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ":pw@")) {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseURL:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	d := &Driver{cfg: Config{Host: "h:445", Domain: "D", User: "u", Password: "s3cret", Share: "s", Path: "p"}}
	if s := d.String(); strings.Contains(s, "s3cret") || s != "smb://D;u@h:445/s/p" {
		t.Fatalf("String() = %q", s)
	}
}

func TestCheckFolder(t *testing.T) {
	for _, tt := range []struct {
		folder string
		ok     bool
	}{
		{"", true}, {"lectern", true}, {"Lectern Data/store 1", true},
		{"a//b", false}, {"a/../b", false}, {"./a", false}, {"a\\b", false}, {"a\x00b", false},
	} {
		if err := checkFolder(tt.folder); (err == nil) != tt.ok {
			t.Errorf("checkFolder(%q) = %v, want ok=%v", tt.folder, err, tt.ok)
		}
	}
}
