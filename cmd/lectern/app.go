package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lectern/lectern/cmd/internal/version"
)

// defaultServer is where `go run ./cmd/lecternd` listens.
const defaultServer = "https://localhost:8443"

// app holds the process's streams and the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) (string, bool)

	server    string
	token     string
	tokenFile string
	caFile    string
	insecure  bool
	output    string // text or json
	progress  string // auto, always or never

	started bool // a command's Run began: errors from here on are not usage errors
}

func (a *app) getenv(name string) string {
	v, _ := a.env(name)
	return v
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "lectern",
		Short: "Lectern's command-line tool: conferences, uploads, downloads, and offline checks of a store",
		Long: `lectern talks to a Lectern server (lecternd) over its HTTPS API, and works directly on a
storage backend for the offline commands (inspect, fsck, migrate, conformance).

Server commands need --server and a token (--token, --token-file, or the environment
variables LECTERN_SERVER, LECTERN_TOKEN, LECTERN_TOKEN_FILE). The self-signed certificate
of a default lecternd is trusted with --ca-file lectern-data/config/tls-cert.pem.

Exit codes: 0 success, 1 error, 2 usage error, 3 fsck found problems.`,
		Version:       version.String("lectern"),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch a.output {
			case "text", "json":
			default:
				return usagef("--output must be text or json, not %q", a.output)
			}
			switch a.progress {
			case "auto", "always", "never":
			default:
				return usagef("--progress must be auto, always or never, not %q", a.progress)
			}
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := root.PersistentFlags()
	f.StringVar(&a.server, "server", envOr(a, "LECTERN_SERVER", defaultServer), "server URL (env LECTERN_SERVER)")
	f.StringVar(&a.token, "token", "", "bearer token (env LECTERN_TOKEN; prefer the environment or --token-file: a flag is visible in the process list)")
	f.StringVar(&a.tokenFile, "token-file", "", "file holding the bearer token, e.g. lectern-data/config/admin-token (env LECTERN_TOKEN_FILE)")
	f.StringVar(&a.caFile, "ca-file", a.getenv("LECTERN_CA_FILE"), "PEM certificate(s) to trust for the server, e.g. lectern-data/config/tls-cert.pem (env LECTERN_CA_FILE)")
	f.BoolVar(&a.insecure, "insecure", false, "do not verify the server's certificate (dangerous: anyone on the path can read your token and content)")
	f.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	f.StringVar(&a.progress, "progress", "auto", "progress bars on stderr: auto (when stderr is a terminal), always or never")

	root.AddCommand(
		a.tokenCommand(),
		a.conferenceCommand(),
		a.contentCommand(),
		a.uploadCommand(),
		a.downloadCommand(),
		a.inspectCommand(),
		a.fsckCommand(),
		a.hashURICommand(),
		a.migrateCommand(),
		a.conformanceCommand(),
	)
	markStart(root, &a.started)
	return root
}

// markStart wraps every command's RunE so that started records that cobra's own
// checks (flags, arguments, required flags) are behind: an error before that is a
// usage error.
func markStart(c *cobra.Command, started *bool) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			*started = true
			return run(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		markStart(sub, started)
	}
}

func envOr(a *app, name, def string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return def
}

// groupCommand is a command that only holds subcommands: an unknown subcommand is a
// usage error, not a silent help text.
func groupCommand(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("%s needs a subcommand (see 'lectern %s --help')", use, use)
		}}
	c.AddCommand(subs...)
	return c
}

// resolveToken returns the token: the flags (--token, then --token-file) win over the
// environment (LECTERN_TOKEN, then LECTERN_TOKEN_FILE).
func (a *app) resolveToken() (string, error) {
	if a.token != "" {
		return a.token, nil
	}
	if a.tokenFile != "" {
		return readTokenFile(a.tokenFile)
	}
	if v := strings.TrimSpace(a.getenv("LECTERN_TOKEN")); v != "" {
		return v, nil
	}
	if f := a.getenv("LECTERN_TOKEN_FILE"); f != "" {
		return readTokenFile(f)
	}
	return "", usagef("this command needs a token: --token-file FILE, or LECTERN_TOKEN in the environment")
}

func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) jsonOutput() bool { return a.output == "json" }

// showProgress decides whether progress bars are drawn.
func (a *app) showProgress() bool {
	switch a.progress {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := a.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
