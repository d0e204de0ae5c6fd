package samba

import (
	"net"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
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
		t.Skip("the share is not ours to restart")
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

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name, url, pw string
		wantErr       bool
		want          Server
	}{
		{name: "full", url: "smb://CORP;bob@files:4450/share/sub/dir", pw: "p",
			want: Server{Host: "files:4450", Domain: "CORP", User: "bob", Password: "p", Share: "share", Base: "sub/dir"}},
		{name: "default port", url: "smb://bob@files/share", pw: "p",
			want: Server{Host: "files:445", User: "bob", Password: "p", Share: "share"}},
		{name: "password in URL", url: "smb://bob:x@files/share", pw: "p", wantErr: true},
		{name: "no password", url: "smb://bob@files/share", wantErr: true},
		{name: "no share", url: "smb://bob@files/", pw: "p", wantErr: true},
		{name: "not smb", url: "http://bob@files/share", pw: "p", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LECTERN_SMB_URL", tt.url)
			t.Setenv("LECTERN_SMB_PASSWORD", tt.pw)
			s, ok, err := fromEnv()
			if !ok {
				t.Fatal("LECTERN_SMB_URL was not taken")
			}
			if tt.wantErr {
				if err == nil {
					t.Fatalf("fromEnv accepted %s", tt.url)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *s != tt.want {
				t.Fatalf("got %+v\nwant %+v", *s, tt.want)
			}
		})
	}
}
