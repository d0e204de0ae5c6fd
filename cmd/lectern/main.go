// Command lectern is Lectern's command-line tool. Against a running lecternd it mints
// tokens, manages conferences, uploads (resumable tus 1.0, with a progress bar) and
// downloads (decrypting and verifying while it streams). Directly on a storage backend,
// given the server's key-encryption key, it inspects (decrypts) metadata files,
// checks a whole store (fsck), copies a store to another backend (migrate) and runs
// the storage conformance suite. docs/cli.md documents every command.
//
// It talks to the server only through the documented HTTP API, and to storage only
// through core/storage and the engine's read-only checks; it must not know a backend's
// internals or the server's internals. Keys it prints go to stdout only, never to a
// log or an error message.
//
// The commands are built with github.com/spf13/cobra: nested subcommands
// (conference create/list/get/delete), persistent global flags with environment
// defaults, generated help and shell completion are what it is made for, and it is
// already in the module graph. Progress bars are github.com/schollz/progressbar/v3.
//
// Exit codes: 0 success, 1 error, 2 usage error, 3 fsck found problems.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes (documented in docs/cli.md).
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitProblems = 3
)

func main() {
	if isConformanceChild(os.Args[1:]) {
		os.Exit(runConformanceChild()) // started by `lectern conformance` to race it (conformance.go)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCodeError ends the command with a given code after its output is written (fsck
// with problems).
type exitCodeError struct {
	code int
	msg  string
}

func (e exitCodeError) Error() string { return e.msg }

// run executes one command line and returns the exit code. Everything the command
// needs from the process comes in as arguments, so that tests run it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ce exitCodeError
	if errors.As(err, &ce) {
		if ce.msg != "" {
			fmt.Fprintln(stderr, "lectern:", ce.msg)
		}
		return ce.code
	}
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(stderr, "lectern: %s (HTTP %d): %s\n", ae.Code, ae.Status, ae.Message)
		return exitError
	case !a.started || errors.As(err, new(usageError)):
		// Cobra's own errors (unknown command or flag, wrong number of arguments,
		// missing required flags) all come before a command starts.
		fmt.Fprintln(stderr, "lectern:", err)
		fmt.Fprintln(stderr, "Run 'lectern --help' for usage.")
		return exitUsage
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		fmt.Fprintln(stderr, "lectern: interrupted:", err)
		return exitError
	}
	fmt.Fprintln(stderr, "lectern:", err)
	if hint := connectionHint(err, a.server); hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	return exitError
}

// connectionHint says what to do about the two mistakes a new user makes first:
// talking to a server that is not running, and not trusting a default lecternd's
// self-signed certificate.
func connectionHint(err error, server string) string {
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("Is lecternd running at %s? Point lectern elsewhere with --server or LECTERN_SERVER.", server)
	case errors.As(err, &unknownCA):
		return "The server's certificate is not trusted. For a default lecternd's self-signed one: " +
			"--ca-file lectern-data/config/tls-cert.pem (or LECTERN_CA_FILE)."
	}
	return ""
}
