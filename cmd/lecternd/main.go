// Command lecternd is the Lectern server. With no flags it serves
// https://localhost:8443 from ./lectern-data, creating on first start a self-signed
// certificate, a KEK, a token secret and an admin token (printed once). See
// docs/api.md and `lecternd -h`.
//
// main.go only wires the steps: config.go reads flags, environment and config file;
// bootstrap.go prepares the data dir's secrets; serve.go runs and stops the server;
// extensions.go is where the conference engine and upload streams are hosted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/lectern/lectern/cmd/internal/version"
)

// errShowVersion: --version was given; run prints the version instead of serving.
var errShowVersion = errors.New("show the version")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(args, os.LookupEnv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, errShowVersion) {
			fmt.Fprintln(stdout, version.String("lecternd"))
			return 0
		}
		fmt.Fprintln(stderr, "lecternd:", err)
		return exitUsage
	}
	logOut := newLineWriter(stderr)
	defer logOut.Close()
	log := newLogger(cfg, logOut)
	sec, err := bootstrap(cfg, log, stdout)
	if err != nil {
		log.Error("bootstrap failed", "err", err)
		return exitCode(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan struct{})
	defer close(served)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			cancel() // the graceful shutdown
		case <-served:
			return
		}
		select {
		case sig := <-sigs:
			// An operator who does not want to wait for the requests and the flush.
			// Nothing acknowledged is lost: it is in the journal, as after kill -9.
			log.Warn("second signal: stopping now, without waiting for requests or the flush", "signal", sig.String())
			_ = logOut.Close()
			os.Exit(exitForced)
		case <-served:
		}
	}()
	if err := serve(ctx, cfg, sec, log); err != nil {
		if errors.Is(err, errShutdown) {
			// Not "stopped": the flush failed. What was acknowledged is in the journal,
			// which the next start replays.
			log.Error("stopped, but the shutdown failed; the next start replays the journal", "err", err)
		} else {
			log.Error("server failed", "err", err)
		}
		return exitCode(err)
	}
	log.Info("stopped")
	return 0
}

// Exit codes. deploy/systemd/lecternd.service restarts on every one but exitUsage
// (RestartPreventExitStatus=2): a restart cannot fix what the operator must.
const (
	// exitFailed: a failure a restart may cure (storage unreachable, address in use).
	exitFailed = 1
	// exitUsage: a configuration mistake (errUsage): a flag, a setting, a file the
	// operator gave or must fix (its mode, its contents), a storage URL.
	exitUsage = 2
	// exitForced: a second SIGINT/SIGTERM cut the shutdown short.
	exitForced = 1
)

// exitCode is the exit code for a failed start or serve: errUsage is the operator's
// to fix, anything else may pass.
func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return exitUsage
	}
	return exitFailed
}

// configMistake marks err as a configuration mistake (errUsage, exit 2) and keeps its
// text: the log line says what to fix, not "usage". nil stays nil.
func configMistake(err error) error {
	if err == nil {
		return nil
	}
	return mistake{err}
}

type mistake struct{ error }

func (m mistake) Unwrap() error        { return m.error }
func (m mistake) Is(target error) bool { return target == errUsage }

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(cfg.LogLevel) // checked by loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
