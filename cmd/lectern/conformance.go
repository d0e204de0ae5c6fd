package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/backends/prefixed"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// `lectern conformance` runs the storage suite (package conformance, which is written
// against *testing.T) inside this binary with testing.MainStart, so that an operator
// can check a live backend with the tool alone, without the Go toolchain or the
// source. MainStart is documented as meant for generated test mains and not covered
// by the Go 1 promise; what it needs is the small testDeps interface below, pinned by
// the module's Go version. If a Go release changes it, this file stops compiling
// (it cannot fail silently), and `go test ./conformance/...` with the harness remains
// the fallback.

type conformanceOptions struct {
	backend string
	run     string
	verbose bool
	large   bool
	timeout time.Duration
}

func (a *app) conformanceCommand() *cobra.Command {
	var o conformanceOptions
	c := &cobra.Command{
		Use:   "conformance --backend URL [--run REGEXP] [-v]",
		Short: "Run the storage conformance suite against a live backend",
		Long: `Run Lectern's storage conformance suite (the checks every backend must pass: keys,
atomic and conditional puts, ranged reads, listing, concurrency, cancellation, several
instances) against the backend at URL. Every check works under its own fresh random
prefix (lectern-conformance-<run>/<check>/) through the prefixing wrapper, and removes
what it wrote. The fault checks, which must stop and start the server, are skipped.
Use a URL whose storage is shared by separate opens (mem://name, not mem://).

--run selects checks by the suite's names, e.g. --run 'keys|list' or --run 'put/atomic'.
Exit code 0 when every check passed, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.conformance(cmd.Context(), o) },
	}
	f := c.Flags()
	f.StringVar(&o.backend, "backend", a.getenv("LECTERN_BACKEND"), "storage URL to test (env LECTERN_BACKEND)")
	f.StringVar(&o.run, "run", "", "run only checks matching this regular expression (group/check)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print every check")
	f.BoolVar(&o.large, "large", false, "also run the checks with objects of 1 GiB and more")
	f.DurationVar(&o.timeout, "timeout", 30*time.Minute, "fail if the suite runs longer")
	return c
}

func (a *app) conformance(ctx context.Context, o conformanceOptions) error {
	if o.backend == "" {
		return usagef("--backend is required")
	}
	for _, level := range strings.Split(o.run, "/") {
		if _, err := regexp.Compile(level); err != nil {
			return usagef("--run: %v", err)
		}
	}
	// Open once to report a bad URL or unreachable storage plainly, before the suite.
	b, err := backends.Open(ctx, o.backend)
	if err != nil {
		return fmt.Errorf("--backend: %w", err)
	}
	b.Close()

	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	root := "lectern-conformance-" + hex.EncodeToString(rnd[:]) + "/"
	var checks int
	h := conformance.Harness{NewStorage: newPrefixStorage(ctx, o.backend, root, &checks), Large: o.large}
	tests := []testing.InternalTest{{Name: "TestConformance", F: func(t *testing.T) { conformance.Run(t, h) }}}

	// testing splits -test.run at top-level '|' before '/', so each level of the
	// user's pattern is bracketed to keep "keys|put" under TestConformance.
	pattern := "^TestConformance$"
	if o.run != "" {
		for _, level := range strings.Split(o.run, "/") {
			pattern += "/(" + level + ")"
		}
	}
	m := testing.MainStart(testDeps{}, tests, nil, nil, nil)
	testArgs := []string{"-test.run", pattern, "-test.timeout", o.timeout.String()}
	if o.verbose {
		testArgs = append(testArgs, "-test.v")
	}
	if err := flag.CommandLine.Parse(testArgs); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "running the storage conformance suite on %s under %s\n", redactURL(o.backend), root)
	if code := m.Run(); code != 0 {
		return exitCodeError{code: exitError, msg: "the backend failed the conformance suite"}
	}
	if checks == 0 {
		return exitCodeError{code: exitError, msg: "no check matched --run " + o.run}
	}
	return nil
}

// newPrefixStorage gives each check a fresh prefix of the backend; every Opener call
// opens a new instance over that prefix, and the prefix is emptied after the check.
// n counts the checks that asked for storage.
func newPrefixStorage(ctx context.Context, rawURL, root string, n *int) func(t testing.TB) conformance.Opener {
	var mu sync.Mutex
	return func(t testing.TB) conformance.Opener {
		mu.Lock()
		*n++
		prefix := fmt.Sprintf("%s%04d/", root, *n)
		mu.Unlock()
		t.Cleanup(func() {
			b, err := backends.Open(context.WithoutCancel(ctx), rawURL)
			if err != nil {
				t.Logf("cleanup of %s: %v", prefix, err)
				return
			}
			defer b.Close()
			var keys []string
			for a, err := range b.List(context.WithoutCancel(ctx), prefix) {
				if err != nil {
					t.Logf("cleanup of %s: %v", prefix, err)
					return
				}
				keys = append(keys, a.Key)
			}
			for _, k := range keys {
				if err := b.Delete(context.WithoutCancel(ctx), k); err != nil {
					t.Logf("cleanup of %s: %v", k, err)
				}
			}
		})
		return func(t testing.TB) storage.Driver {
			b, err := backends.Open(ctx, rawURL)
			if err != nil {
				t.Fatalf("open %s: %v", redactURL(rawURL), err)
			}
			d, err := prefixed.New(b.Driver(), prefix)
			if err != nil {
				b.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
	}
}

// redactURL hides a password in a storage URL for messages.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(storage URL)"
}

// testDeps is what testing.MainStart needs of a test binary: matching test names,
// and nothing of profiling, coverage or fuzzing.
type testDeps struct{}

// corpusEntry mirrors testing's alias of the same name.
type corpusEntry = struct {
	Parent     string
	Path       string
	Data       []byte
	Values     []any
	Generation int
	IsSeed     bool
}

var errNotSupported = errors.New("not supported by lectern conformance")

var (
	matchMu    sync.Mutex
	matchCache = map[string]*regexp.Regexp{}
)

func (testDeps) MatchString(pat, str string) (bool, error) {
	matchMu.Lock()
	defer matchMu.Unlock()
	re, ok := matchCache[pat]
	if !ok {
		var err error
		if re, err = regexp.Compile(pat); err != nil {
			return false, err
		}
		matchCache[pat] = re
	}
	return re.MatchString(str), nil
}

func (testDeps) ImportPath() string                          { return "github.com/lectern/lectern/cmd/lectern" }
func (testDeps) ModulePath() string                          { return "github.com/lectern/lectern" }
func (testDeps) SetPanicOnExit0(bool)                        {}
func (testDeps) StartCPUProfile(io.Writer) error             { return errNotSupported }
func (testDeps) StopCPUProfile()                             {}
func (testDeps) StartTestLog(io.Writer)                      {}
func (testDeps) StopTestLog() error                          { return nil }
func (testDeps) WriteProfileTo(string, io.Writer, int) error { return errNotSupported }
func (testDeps) CoordinateFuzzing(time.Duration, int64, time.Duration, int64, int, []corpusEntry, []reflect.Type, string, string) error {
	return errNotSupported
}
func (testDeps) RunFuzzWorker(func(corpusEntry) error) error { return errNotSupported }
func (testDeps) ReadCorpus(string, []reflect.Type) ([]corpusEntry, error) {
	return nil, errNotSupported
}
func (testDeps) CheckCorpus([]any, []reflect.Type) error { return nil }
func (testDeps) ResetCoverage()                          {}
func (testDeps) SnapshotCoverage()                       {}
func (testDeps) InitRuntimeCoverage() (string, func(string, string) (string, error), func() float64) {
	return "", nil, nil
}
