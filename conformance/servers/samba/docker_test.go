package samba

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lectern/lectern/conformance/servers"
	"github.com/lectern/lectern/conformance/servers/docker"
)

// TestDockerPath starts Samba through the Docker path itself (whatever path the
// shared server took), writes a file through smbclient, crashes and restarts the
// container, and reads the file back.
func TestDockerPath(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Samba container")
	}
	t.Setenv(viaEnv, "docker")
	if _, err := docker.Connect(context.Background()); err != nil {
		servers.Unavailable(t, "docker", err.Error(), docker.HowToEnable)
	}
	if _, err := exec.LookPath("smbclient"); err != nil {
		servers.Unavailable(t, "smb", "smbclient is not installed", howToEnable)
	}
	s, err := startDocker()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.proc.shutdown)
	if _, ok := s.proc.(*container); !ok || !s.Restartable() {
		t.Fatalf("startDocker gave a %T, want a restartable container", s.proc)
	}
	if !strings.HasPrefix(s.Host, "127.0.0.1:") {
		t.Fatalf("host %s is not 127.0.0.1", s.Host)
	}
	src := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(src, []byte("through docker"), 0o600); err != nil {
		t.Fatal(err)
	}
	smbclient(t, s, "put "+src+" kept.txt")

	s.Stop(t)
	if canDial(s.Host) {
		t.Fatal("the stopped server still accepts connections")
	}
	s.Start(t)
	dst := filepath.Join(t.TempDir(), "out.txt")
	smbclient(t, s, "get kept.txt "+dst)
	if b, err := os.ReadFile(dst); err != nil || string(b) != "through docker" {
		t.Fatalf("after restart: %q, %v", b, err)
	}
	// The share is the bind-mounted host folder: the file is where Root says.
	if b, err := os.ReadFile(filepath.Join(s.Root, "kept.txt")); err != nil || string(b) != "through docker" {
		t.Fatalf("in Root: %q, %v", b, err)
	}
}

func smbclient(t *testing.T, s *Server, command string) {
	t.Helper()
	host, port, _ := strings.Cut(s.Host, ":")
	cmd := exec.Command("smbclient", "//"+host+"/"+s.Share, "-p", port, "-U", s.User, "-c", command)
	cmd.Env = append(cmd.Environ(), "PASSWD="+s.Password) // not on the command line
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smbclient %q: %v\n%s", command, err, out)
	}
}

func TestViaLocalSkipsDocker(t *testing.T) {
	t.Setenv(viaEnv, "local")
	if s, err := startDocker(); err == nil || s != nil {
		t.Fatalf("startDocker with %s=local = %v, %v; want not tried", viaEnv, s, err)
	}
}

func TestDockerOnlyDoesNotFallBack(t *testing.T) {
	t.Setenv(viaEnv, "docker")
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("LECTERN_SMB_URL", "")
	_, err := find()
	if err == nil || !errors.Is(err, docker.ErrNoDaemon) {
		t.Fatalf("find() with no daemon and %s=docker = %v; want ErrNoDaemon, not the local smbd", viaEnv, err)
	}
}
