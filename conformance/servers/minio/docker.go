package minio

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/lectern/lectern/conformance/servers/docker"
)

// viaEnv chooses the harness path: unset tries them in order (environment endpoint,
// Docker, binary); "docker" or "binary" takes only that path, so that CI can run the
// S3 suite through each one (`LECTERN_S3_VIA=docker go test ./backends/s3/`).
const viaEnv = "LECTERN_S3_VIA"

// serverProcess is a server this package started and can stop, start and remove: a
// *process (the minio binary) or a *container (the same binary in Docker).
type serverProcess interface {
	start() error
	stop() error
	shutdown()
}

// dockerOnly reports whether the environment asks for the Docker path and no other.
func dockerOnly() bool { return os.Getenv(viaEnv) == "docker" }

// startDocker is the Docker path (SPEC §7): where a daemon answers, it builds a local
// image holding the same minio binary the binary path would run (no registry is
// reachable, so nothing is pulled), and runs it with host networking on 127.0.0.1 at
// free ports, as a non-root user, with its data in the container's own file system
// (kept across Stop and Start, removed by Shutdown).
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
	bin, err := findBinary()
	if err != nil {
		return nil, fmt.Errorf("the image is built from the minio binary: %w", err)
	}
	image, err := d.EnsureImage(ctx, docker.Image{
		Repository: "lectern-test/minio",
		Files:      map[string]string{"/usr/bin/minio": bin},
		Dirs:       []string{"/data", "/tmp"},
		Owner:      65532,
	})
	if err != nil {
		return nil, err
	}
	user, password := "lectern-"+randomHex(4), randomHex(16)
	// As in startBinary, a port taken between the check and MinIO's bind fails the
	// start with MinIO's message, and the next attempt picks other ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		address, err := freeAddress()
		if err != nil {
			return nil, err
		}
		console, err := freeAddress()
		if err != nil {
			return nil, err
		}
		c, err := d.Run(ctx, docker.RunOptions{
			Image: string(image),
			Cmd:   []string{"/usr/bin/minio", "server", "/data", "--address", address, "--console-address", console, "--quiet"},
			Env: []string{
				"MINIO_ROOT_USER=" + user, "MINIO_ROOT_PASSWORD=" + password,
				"MINIO_UPDATE=off", "MINIO_BROWSER=off", "HOME=/data",
			},
			User: "65532:65532",
		})
		if err != nil {
			return nil, err
		}
		k := &container{c: c, address: address}
		if lastErr = k.waitLive(ctx); lastErr == nil {
			return &Server{
				Endpoint:  "http://" + address,
				Region:    "us-east-1",
				AccessKey: user,
				SecretKey: password,
				proc:      k,
			}, nil
		}
		k.shutdown()
	}
	return nil, lastErr
}

// container is MinIO running in Docker.
type container struct {
	c       *docker.Container
	address string
}

func (k *container) waitLive(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the wait for the container's exit once it is live
	if err := waitLive("http://"+k.address, nil, k.c.Exited(wctx)); err != nil {
		return fmt.Errorf("minio container on %s: %w; its log ends with:\n%s", k.address, err, k.c.Logs(ctx))
	}
	return nil
}

// start restarts the stopped container (same ports, same data) and waits until it is
// live; on a running one it does nothing.
func (k *container) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout+30*time.Second)
	defer cancel()
	return k.c.Resume(ctx, k.waitLive)
}

// stop kills the container, as a crash would.
func (k *container) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return k.c.Kill(ctx)
}

func (k *container) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = k.c.Remove(ctx)
}
