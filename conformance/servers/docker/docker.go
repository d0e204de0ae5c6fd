// Package docker is the Docker path of the test-server harness (SPEC §7): it connects
// to a Docker engine when one answers, builds small images locally from binaries found
// on the host (no image registry can be reached, so nothing is ever pulled), and runs
// them as containers with host networking, listening on 127.0.0.1 only.
//
// It is built on github.com/ory/dockertest/v3 (its vendored go-dockerclient speaks the
// Engine API); what this package adds is what dockertest leaves to the caller here:
// building an image from host files instead of pulling one, host networking instead of
// published ports, and reaping containers left behind by a test process that died.
//
// It must not know which server it runs (MinIO, Samba), the storage contract or any
// backend: the harness packages (servers/minio, servers/samba) say what to run.
package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ory/dockertest/v3"
	dc "github.com/ory/dockertest/v3/docker"
)

// HowToEnable says how to get a daemon this package can use, for skip messages.
const HowToEnable = "start a Docker engine and point DOCKER_HOST at it, e.g. as root: " +
	"`apt-get install -y docker.io && dockerd --bridge=none --iptables=false --ip6tables=false " +
	"--host unix:///run/lectern-docker.sock &` then `export DOCKER_HOST=unix:///run/lectern-docker.sock` " +
	"(no registry is needed: images are built locally from host binaries)"

// pingTimeout bounds the check that a daemon answers: a missing socket fails at once,
// a wedged daemon must not hang the tests.
const pingTimeout = 5 * time.Second

// Labels put on every container this package starts, so that stale ones can be found.
const (
	labelOwner = "org.lectern.test.owner-pid"
	labelBoot  = "org.lectern.test.owner-boot"
)

// ErrNoDaemon is returned by Connect when no Docker engine answers.
var ErrNoDaemon = errors.New("no Docker daemon answers")

// Daemon is a Docker engine that answered a ping.
type Daemon struct {
	pool *dockertest.Pool
}

// Connect returns the daemon at DOCKER_HOST, or at the default socket, once it has
// answered a ping. The error wraps ErrNoDaemon when none answers.
func Connect(ctx context.Context) (*Daemon, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDaemon, err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := pool.Client.PingWithContext(pctx); err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrNoDaemon, pool.Client.Endpoint(), err)
	}
	d := &Daemon{pool: pool}
	d.reapStale(ctx)
	return d, nil
}

// Endpoint is the daemon's address (unix:///… or tcp://…).
func (d *Daemon) Endpoint() string { return d.pool.Client.Endpoint() }

// RunOptions say what container to start.
type RunOptions struct {
	Image string   // repository:tag, built beforehand with EnsureImage
	Cmd   []string // the program and its arguments (images built here have no entrypoint)
	Env   []string
	User  string   // uid[:gid], default root
	Binds []string // host:container[:ro] bind mounts
}

// Container is a container this package started, with host networking.
type Container struct {
	ID string
	d  *Daemon
}

// Run creates and starts a container with host networking. It never pulls: a missing
// image is an error (dockertest's RunWithOptions would pull, so the image is checked
// first).
func (d *Daemon) Run(ctx context.Context, o RunOptions) (*Container, error) {
	if _, err := d.pool.Client.InspectImage(o.Image); err != nil {
		return nil, fmt.Errorf("image %s is not built (it is never pulled): %w", o.Image, err)
	}
	repo, tag, _ := strings.Cut(o.Image, ":")
	res, err := d.pool.RunWithOptions(&dockertest.RunOptions{
		Repository: repo,
		Tag:        tag,
		Cmd:        o.Cmd,
		Env:        o.Env,
		User:       o.User,
		Labels: map[string]string{
			labelOwner: strconv.Itoa(os.Getpid()),
			labelBoot:  bootID(),
		},
	}, func(hc *dc.HostConfig) {
		// Host networking: the server binds 127.0.0.1 itself, nothing is published,
		// and no container (bridge) address is ever used.
		hc.NetworkMode = "host"
		hc.PublishAllPorts = false
		hc.Binds = o.Binds
		hc.RestartPolicy = dc.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return nil, fmt.Errorf("starting a container of %s: %w", o.Image, err)
	}
	return &Container{ID: res.Container.ID, d: d}, nil
}

// Kill stops the container abruptly (SIGKILL, as a crash would) and keeps it, with
// its file system, for Start.
func (c *Container) Kill(ctx context.Context) error {
	err := c.d.pool.Client.KillContainer(dc.KillContainerOptions{ID: c.ID, Signal: dc.SIGKILL, Context: ctx})
	var notRunning *dc.ContainerNotRunning
	if err != nil && !errors.As(err, &notRunning) {
		return fmt.Errorf("killing container %.12s: %w", c.ID, err)
	}
	// The kill request returns before the container has exited; wait so that a
	// following Start does not race the old process for its port.
	if _, err := c.d.pool.Client.WaitContainerWithContext(c.ID, ctx); err != nil {
		return fmt.Errorf("waiting for container %.12s: %w", c.ID, err)
	}
	return nil
}

// Start starts a stopped container again, with the same command and file system.
func (c *Container) Start(ctx context.Context) error {
	err := c.d.pool.Client.StartContainerWithContext(c.ID, nil, ctx)
	var already *dc.ContainerAlreadyRunning
	if err != nil && !errors.As(err, &already) {
		return fmt.Errorf("starting container %.12s: %w", c.ID, err)
	}
	return nil
}

// Resume starts the container again if it is stopped (same ports, same data) and
// waits until ready says it serves; a running container is left as it is. The test
// servers' restart after a simulated crash is this.
func (c *Container) Resume(ctx context.Context, ready func(context.Context) error) error {
	if running, err := c.Running(ctx); err == nil && running {
		return nil
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	return ready(ctx)
}

// Running reports whether the container's process is alive.
func (c *Container) Running(ctx context.Context) (bool, error) {
	ct, err := c.d.pool.Client.InspectContainerWithContext(c.ID, ctx)
	if err != nil {
		return false, err
	}
	return ct.State.Running, nil
}

// Logs returns the last lines the container printed, for error messages.
func (c *Container) Logs(ctx context.Context) string {
	var out strings.Builder
	err := c.d.pool.Client.Logs(dc.LogsOptions{
		Context: ctx, Container: c.ID, OutputStream: &out, ErrorStream: &out,
		Stdout: true, Stderr: true, Tail: "40",
	})
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	return strings.TrimSpace(out.String())
}

// Remove kills and deletes the container and its anonymous volumes.
func (c *Container) Remove(ctx context.Context) error {
	return c.d.pool.Client.RemoveContainer(dc.RemoveContainerOptions{ID: c.ID, Force: true, RemoveVolumes: true, Context: ctx})
}

// reapStale removes containers started by test processes of this boot that no longer
// exist (a test binary killed by a timeout cannot clean up after itself; a child
// process would die with it, a container does not).
func (d *Daemon) reapStale(ctx context.Context) {
	list, err := d.pool.Client.ListContainers(dc.ListContainersOptions{
		All: true, Filters: map[string][]string{"label": {labelOwner}}, Context: ctx,
	})
	if err != nil {
		return
	}
	for _, c := range list {
		pid, err := strconv.Atoi(c.Labels[labelOwner])
		if err != nil || c.Labels[labelBoot] != bootID() || processAlive(pid) {
			continue
		}
		_ = d.pool.Client.RemoveContainer(dc.RemoveContainerOptions{ID: c.ID, Force: true, RemoveVolumes: true, Context: ctx})
	}
}

// bootID tells process ids of this boot from those of another (a pid is only unique
// within one boot).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// Exited returns a channel closed when the container's process exits (or ctx ends),
// for waits that must stop early when the server dies while starting.
func (c *Container) Exited(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.d.pool.Client.WaitContainerWithContext(c.ID, ctx)
	}()
	return done
}

// Health is the status of the image's HEALTHCHECK ("starting", "healthy",
// "unhealthy"), or "" when the image has none.
func (c *Container) Health(ctx context.Context) (string, error) {
	ct, err := c.d.pool.Client.InspectContainerWithContext(c.ID, ctx)
	if err != nil {
		return "", err
	}
	return ct.State.Health.Status, nil
}
