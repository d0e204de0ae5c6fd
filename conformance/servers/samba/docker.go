package samba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lectern/lectern/conformance/servers/docker"
)

// viaEnv chooses the harness path: unset tries them in order (environment share,
// Docker, local smbd); "docker" or "local" takes only that path, so that CI can run
// the SMB suite through each one (`LECTERN_SMB_VIA=docker go test ./backends/smb/`).
const viaEnv = "LECTERN_SMB_VIA"

// serverProcess is a server this package started and can stop, start and remove: a
// *process (smbd on the host) or a *container (the same smbd in Docker).
type serverProcess interface {
	start() error
	stop() error
	shutdown()
}

// dockerOnly reports whether the environment asks for the Docker path and no other.
func dockerOnly() bool { return os.Getenv(viaEnv) == "docker" }

// startDocker is the Docker path (SPEC §7). No Samba image can be pulled here, so the
// image is built from the host's own Samba (Debian's package, as deploy/test.sh
// installs it): smbd, Samba's private libraries and modules, the gconv charset
// modules, and every shared library they load. The server is prepared exactly as the
// local path prepares it (startLocal: private smb.conf, free port, test user and
// password, all state in one temporary folder), then that smbd is stopped and the
// same configuration runs in a container with host networking on 127.0.0.1, the
// folder bind-mounted at the same path.
//
// A Debian root file system (debootstrap) would make a more complete image, but needs
// minutes and a Debian mirror on every machine; the host's files need neither, and
// smbd finds everything it loads.
func startDocker() (*Server, error) {
	if v := os.Getenv(viaEnv); v != "" && v != "docker" {
		return nil, fmt.Errorf("not tried (%s=%s)", viaEnv, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := docker.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w; to use Docker: %s", err, docker.HowToEnable)
	}
	files, err := sambaFiles()
	if err != nil {
		return nil, err
	}
	srv, err := startLocal()
	if err != nil {
		return nil, fmt.Errorf("preparing the server (the image is built from the host's Samba): %w", err)
	}
	local := srv.proc.(*process)
	if err := local.stop(); err != nil {
		local.shutdown()
		return nil, err
	}
	etc := filepath.Join(local.dir, "image-etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		local.shutdown()
		return nil, err
	}
	// The test user is root (startLocal); smbd also insists on its guest account.
	for name, body := range map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"group":  "root:x:0:\nnogroup:x:65534:\n",
	} {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(body), 0o644); err != nil {
			local.shutdown()
			return nil, err
		}
		files["/etc/"+name] = filepath.Join(etc, name)
	}
	image, err := d.EnsureImage(ctx, docker.Image{Repository: "lectern-test/samba", Files: files, Dirs: []string{"/tmp", "/run", "/var/lib/samba"}})
	if err != nil {
		local.shutdown()
		return nil, err
	}
	c, err := d.Run(ctx, docker.RunOptions{
		Image: string(image),
		Cmd:   []string{"/usr/sbin/smbd", "--foreground", "--no-process-group", "--debug-stdout", "-s", local.conf},
		Binds: []string{local.dir + ":" + local.dir},
	})
	if err != nil {
		local.shutdown()
		return nil, err
	}
	k := &container{c: c, dir: local.dir, addr: "127.0.0.1:" + strconv.Itoa(local.port)}
	if err := k.waitListening(ctx); err != nil {
		k.shutdown()
		return nil, err
	}
	srv.proc = k
	return srv, nil
}

// sambaFiles lists the host files the image needs, by their path in the image.
func sambaFiles() (map[string]string, error) {
	smbd, err := exec.LookPath("smbd")
	if err != nil {
		smbd = "/usr/sbin/smbd"
	}
	if _, err := os.Stat(smbd); err != nil {
		return nil, errors.New("smbd is not installed on the host (the image is built from it): apt-get install -y samba")
	}
	files := map[string]string{"/usr/sbin/smbd": smbd}
	// Modules smbd loads with dlopen (vfs, pdb, auth, charsets) and the helpers it
	// starts; ldd cannot see these, so their folders are copied whole.
	var globs []string
	for _, pattern := range []string{"/usr/lib/*/samba", "/usr/lib64/samba", "/usr/lib/samba", "/usr/libexec/samba", "/usr/lib/*/gconv"} {
		m, _ := filepath.Glob(pattern)
		globs = append(globs, m...)
	}
	for _, dir := range globs {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			files[dir] = dir
		}
	}
	return files, nil
}

// container is smbd running in Docker.
type container struct {
	c    *docker.Container
	dir  string // the bind-mounted folder with smb.conf, state and shares
	addr string
}

// waitListening polls until smbd accepts connections, the container exits, or the
// start deadline passes.
func (k *container) waitListening(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited := k.c.Exited(wctx)
	deadline := time.Now().Add(startDeadline)
	for {
		conn, err := net.DialTimeout("tcp", k.addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the smbd container exited at start; its log:\n%s", k.c.Logs(ctx))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the smbd container did not listen on %s within %v; its log:\n%s", k.addr, startDeadline, k.c.Logs(ctx))
		}
	}
}

func (k *container) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline+30*time.Second)
	defer cancel()
	return k.c.Resume(ctx, k.waitListening)
}

// stop kills smbd and every connection it serves: all processes of the container.
func (k *container) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return k.c.Kill(ctx)
}

func (k *container) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = k.c.Remove(ctx)
	_ = os.RemoveAll(k.dir)
}
