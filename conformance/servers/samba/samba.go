// Package samba gives tests a real SMB share: a Samba server on 127.0.0.1 with a test
// user, for the SMB backend's conformance suite, fault tests and benchmarks.
//
// The share is found in this order (SPEC §7):
//  1. a share from the environment: LECTERN_SMB_URL (smb://[domain;]user@host[:port]/share[/path])
//     and LECTERN_SMB_PASSWORD, unless LECTERN_SMB_VIA forces a path. Such a share
//     cannot be stopped and started and its files are out of reach, so where SMB is
//     required (CI) it is refused and the tests fail (servers.FromEnvironment) rather
//     than let the outage and disk-full tests skip;
//  2. Docker, when a daemon answers: the host's smbd in a locally built image (see
//     startDocker; LECTERN_SMB_VIA=docker or =local forces one path);
//  3. smbd from the Debian package samba: one server per test process, started on first
//     use at a free port with a private smb.conf whose every path points into a
//     temporary folder, and stopped by Shutdown (call it from TestMain through Main), or
//     killed by the kernel when the test process dies (Linux parent-death signal).
//
// The local server is configured like a Windows share: case-insensitive names, no 8.3
// name mangling, share modes enforced (an open handle blocks rename and delete). A
// second share on the same server requires SMB3 encryption, to test that option.
//
// When no share can be had the test is skipped, or fails where SMB is required (CI):
// see package servers.
//
// It must not know the storage contract or the SMB backend.
package samba

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lectern/lectern/conformance/servers"
)

const howToEnable = "install Samba (`apt-get install -y samba smbclient`, as root; deploy/test.sh does it) " +
	"and run the tests as root, or, outside CI, point them at a share with LECTERN_SMB_URL " +
	"(smb://user@host:port/share/path) and LECTERN_SMB_PASSWORD"

// Server is a reachable SMB share.
type Server struct {
	// Host is host:port of the server.
	Host string
	// Domain, User and Password are the test account's NTLM credentials.
	Domain   string
	User     string
	Password string
	// Share is the share name, and Base a folder inside it (slash-separated, may be
	// empty) under which tests make their folders.
	Share string
	Base  string
	// EncryptedShare is a share on the same server that requires SMB3 encryption, or
	// "" when the server is not ours.
	EncryptedShare string
	// Root is the local folder behind Share, or "" when the server is not ours.
	Root string

	proc serverProcess // nil when the server is not ours to stop and start
}

var shared = servers.Shared[*Server]{
	Backend:     "smb",
	HowToEnable: howToEnable,
	Find:        find,
	Stop: func(s *Server) {
		if s.proc != nil {
			s.proc.shutdown()
		}
	},
}

// Start returns the SMB share of this test process, starting Samba on first use. When
// no share can be had it skips t, or fails it where SMB is required.
func Start(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t)
}

// Shutdown stops the server Start started, if any, and removes its folder. Call it
// once all tests are done (Main does).
func Shutdown() { shared.Shutdown() }

// Main runs the tests and then Shutdown: `func TestMain(m *testing.M) { samba.Main(m) }`.
func Main(m *testing.M) { servers.Main(m, Shutdown) }

func find() (*Server, error) {
	if s, ok, err := fromEnv(); ok {
		return s, err
	}
	var reasons []string
	s, err := startDocker()
	if err == nil {
		return s, nil
	}
	if dockerOnly() {
		return nil, fmt.Errorf("no SMB share through Docker (%s=docker): %w", viaEnv, err)
	}
	reasons = append(reasons, "docker: "+err.Error())
	s, err = startLocal()
	if err == nil {
		return s, nil
	}
	reasons = append(reasons, "smbd: "+err.Error())
	return nil, fmt.Errorf("no SMB share (%s)", strings.Join(reasons, "; "))
}

// fromEnv returns the share LECTERN_SMB_URL names, with ok false when it names none or
// LECTERN_SMB_VIA forces a path of the tests' own (docker, local).
func fromEnv() (*Server, bool, error) {
	raw := os.Getenv("LECTERN_SMB_URL")
	if raw == "" || os.Getenv(viaEnv) != "" {
		return nil, false, nil
	}
	if err := servers.FromEnvironment("smb", "LECTERN_SMB_URL"); err != nil {
		return nil, true, err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smb" || u.Host == "" || u.User == nil {
		return nil, true, fmt.Errorf("LECTERN_SMB_URL must look like smb://[domain;]user@host[:port]/share/path")
	}
	if _, set := u.User.Password(); set {
		return nil, true, fmt.Errorf("LECTERN_SMB_URL must not contain a password: use LECTERN_SMB_PASSWORD")
	}
	pw := os.Getenv("LECTERN_SMB_PASSWORD")
	if pw == "" {
		return nil, true, fmt.Errorf("LECTERN_SMB_URL is set but LECTERN_SMB_PASSWORD is not")
	}
	s := &Server{Host: u.Host, Password: pw}
	s.User = u.User.Username()
	if d, user, ok := strings.Cut(s.User, ";"); ok {
		s.Domain, s.User = d, user
	}
	if !strings.Contains(s.Host, ":") {
		s.Host += ":445"
	}
	s.Share, s.Base, _ = strings.Cut(strings.Trim(u.Path, "/"), "/")
	if s.Share == "" {
		return nil, true, fmt.Errorf("LECTERN_SMB_URL has no share name")
	}
	return s, true, nil
}

// Restartable reports whether Stop and Start work: only for a server this package
// started itself.
func (s *Server) Restartable() bool { return s.proc != nil }

// Stop kills the server and every connection it serves (as a crash would). With Start
// it implements conformance.ServerControl.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.proc == nil {
		t.Fatalf("samba: this server (%s) was not started by the tests and cannot be stopped", s.Host)
	}
	if err := s.proc.stop(); err != nil {
		t.Fatalf("samba: stop: %v", err)
	}
}

// Start restarts a stopped server on the same port, configuration and share, and
// waits until it accepts connections. Starting a running server does nothing.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.proc == nil {
		t.Fatalf("samba: this server (%s) was not started by the tests and cannot be started", s.Host)
	}
	if err := s.proc.start(); err != nil {
		t.Fatalf("samba: restart: %v", err)
	}
}

// URL returns the smb:// URL of folder (slash-separated) inside the share, with the
// user but never the password.
func (s *Server) URL(folder string) string {
	return s.urlOf(s.Share, folder)
}

// EncryptedURL is URL on the share that requires encryption.
func (s *Server) EncryptedURL(folder string) string {
	return s.urlOf(s.EncryptedShare, folder)
}

func (s *Server) urlOf(share, folder string) string {
	user := s.User
	if s.Domain != "" {
		user = s.Domain + ";" + user
	}
	u := url.URL{Scheme: "smb", User: url.User(user), Host: s.Host, Path: "/" + path.Join(share, s.Base, folder)}
	return u.String()
}

// NewFolder returns the name of a fresh folder for one test (it is created by whoever
// writes into it first). A local server's folder is removed when t ends.
func (s *Server) NewFolder(t testing.TB) string {
	t.Helper()
	name := "t-" + randomHex(8)
	if s.Root != "" {
		t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(s.Root, filepath.FromSlash(s.Base), name)) })
	}
	return name
}

// PasswordFile writes the password into a private file for t and returns its path, for
// the backend's ?password_file= option.
func (s *Server) PasswordFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smb-password")
	if err := os.WriteFile(p, []byte(s.Password+"\n"), 0o600); err != nil {
		t.Fatalf("samba: %v", err)
	}
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
