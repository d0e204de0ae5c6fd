package samba

import (
	"errors"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers"
)

func TestMain(m *testing.M) { Main(m) }

func canDial(host string) bool {
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestStopStart: the local server stops (its port closes) and starts again on the same
// port, and smbclient can log in with the test user afterwards.
func TestStopStart(t *testing.T) {
	srv := Start(t)
	if !srv.Restartable() {
		// Only a share from LECTERN_SMB_URL, which Start refuses where SMB is required.
		servers.Unavailable(t, "smb", "the share from LECTERN_SMB_URL is not ours to restart", "unset LECTERN_SMB_URL")
	}
	if !strings.HasPrefix(srv.Host, "127.0.0.1:") {
		t.Fatalf("the local server listens on %s, want 127.0.0.1", srv.Host)
	}
	if !canDial(srv.Host) {
		t.Fatal("the server does not accept connections")
	}
	srv.Stop(t)
	if canDial(srv.Host) {
		t.Fatal("the port still accepts connections after Stop")
	}
	srv.Start(t)
	if !canDial(srv.Host) {
		t.Fatal("the server does not accept connections after Start")
	}
	if _, err := exec.LookPath("smbclient"); err != nil {
		return
	}
	host, port, _ := strings.Cut(srv.Host, ":")
	cmd := exec.Command("smbclient", "//"+host+"/"+srv.Share, "-p", port, "-U", srv.User, "-c", "ls")
	cmd.Env = append(cmd.Environ(), "PASSWD="+srv.Password) // not on the command line
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smbclient after the restart: %v\n%s", err, out)
	}
}

func TestURLHasNoPassword(t *testing.T) {
	s := &Server{Host: "127.0.0.1:4450", Domain: "D", User: "u", Password: "secret", Share: "sh", Base: "b"}
	raw := s.URL("f")
	if strings.Contains(raw, "secret") {
		t.Fatalf("URL shows the password: %s", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || u.User.Username() != "D;u" || u.Path != "/sh/b/f" || u.Host != s.Host {
		t.Fatalf("URL %s parses as %+v, %v", raw, u, err)
	}
}

// TestFromEnv: LECTERN_SMB_URL is parsed into the share it names (never restartable),
// unless LECTERN_SMB_VIA forces a path of the tests' own; where SMB is required it is
// refused with servers.ErrNotOurs, since the outage and disk-full tests would skip.
func TestFromEnv(t *testing.T) {
	const full = "smb://CORP;bob@files:4450/share/sub/dir"
	tests := []struct {
		name, url, pw     string
		via, ci, require  string
		wantUsed, wantErr bool
		wantNotOurs       bool
		want              Server
	}{
		{name: "unset"},
		{name: "full", url: full, pw: "p", wantUsed: true,
			want: Server{Host: "files:4450", Domain: "CORP", User: "bob", Password: "p", Share: "share", Base: "sub/dir"}},
		{name: "default port", url: "smb://bob@files/share", pw: "p", wantUsed: true,
			want: Server{Host: "files:445", User: "bob", Password: "p", Share: "share"}},
		{name: "password in URL", url: "smb://bob:x@files/share", pw: "p", wantUsed: true, wantErr: true},
		{name: "no password", url: "smb://bob@files/share", wantUsed: true, wantErr: true},
		{name: "no share", url: "smb://bob@files/", pw: "p", wantUsed: true, wantErr: true},
		{name: "not smb", url: "http://bob@files/share", pw: "p", wantUsed: true, wantErr: true},
		{name: "via local", url: full, pw: "p", via: "local"},
		{name: "via docker", url: full, pw: "p", via: "docker"},
		{name: "ci", url: full, pw: "p", ci: "true", wantUsed: true, wantErr: true, wantNotOurs: true},
		{name: "require all", url: full, pw: "p", require: "all", wantUsed: true, wantErr: true, wantNotOurs: true},
		{name: "require other", url: full, pw: "p", require: "s3", wantUsed: true,
			want: Server{Host: "files:4450", Domain: "CORP", User: "bob", Password: "p", Share: "share", Base: "sub/dir"}},
		{name: "ci via local", url: full, pw: "p", via: "local", ci: "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LECTERN_SMB_URL", tt.url)
			t.Setenv("LECTERN_SMB_PASSWORD", tt.pw)
			t.Setenv(viaEnv, tt.via)
			t.Setenv("CI", tt.ci)
			t.Setenv("LECTERN_REQUIRE", tt.require)
			s, used, err := fromEnv()
			if used != tt.wantUsed || (err != nil) != tt.wantErr || errors.Is(err, servers.ErrNotOurs) != tt.wantNotOurs {
				t.Fatalf("fromEnv() = %+v, %v, %v; want used %v, error %v, ErrNotOurs %v",
					s, used, err, tt.wantUsed, tt.wantErr, tt.wantNotOurs)
			}
			if !used || err != nil {
				return
			}
			if s.Restartable() {
				t.Fatal("a share from the environment claims to be restartable")
			}
			if *s != tt.want {
				t.Fatalf("got %+v\nwant %+v", *s, tt.want)
			}
		})
	}
}
