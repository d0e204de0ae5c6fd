package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
The check instances/conditional_puts_across_processes starts this binary again as two
child processes that race this one on create-only and replace-if-version puts of the
same keys (they get the URL through their environment); on mem:// storage, which
lives in one process, it skips. Use a URL whose storage is shared by separate opens
(mem://name, not mem://).

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
	target := &conformanceTarget{ctx: ctx, url: o.backend, root: "lectern-conformance-" + hex.EncodeToString(rnd[:]) + "/"}
	h := target.harness(o.large)
	tests := []testing.InternalTest{{Name: conformanceTestName, F: func(t *testing.T) { conformance.Run(t, h) }}}

	// testing splits -test.run at top-level '|' before '/', so each level of the
	// user's pattern is bracketed to keep "keys|put" under TestConformance.
	pattern := "^" + conformanceTestName + "$"
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
	fmt.Fprintf(a.stderr, "running the storage conformance suite on %s under %s\n", redactURL(o.backend), target.root)
	if code := m.Run(); code != 0 {
		return exitCodeError{code: exitError, msg: "the backend failed the conformance suite"}
	}
	if target.checks() == 0 {
		return exitCodeError{code: exitError, msg: "no check matched --run " + o.run}
	}
	return nil
}

// conformanceTestName is the test the suite runs under, in this process and in the
// children of the cross-process check (which the suite selects by this name).
const conformanceTestName = "TestConformance"

// conformanceTarget is the backend under test. Every check that asks for storage
// gets a fresh prefix of it under root, emptied after the check.
type conformanceTarget struct {
	ctx  context.Context
	url  string
	root string

	mu sync.Mutex
	n  int // prefixes handed out: the checks that asked for storage
}

func (c *conformanceTarget) harness(large bool) conformance.Harness {
	return conformance.Harness{
		NewStorage:   c.newStorage,
		NewLocation:  c.newLocation,
		OpenLocation: func(t testing.TB, loc string) storage.Driver { return openLocation(c.ctx, t, loc) },
		Large:        large,
	}
}

// checks is how many checks asked for storage.
func (c *conformanceTarget) checks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// newPrefix hands out a fresh prefix and empties it when the check ends.
func (c *conformanceTarget) newPrefix(t testing.TB) string {
	c.mu.Lock()
	c.n++
	prefix := fmt.Sprintf("%s%04d/", c.root, c.n)
	c.mu.Unlock()
	t.Cleanup(func() { c.empty(t, prefix) })
	return prefix
}

func (c *conformanceTarget) empty(t testing.TB, prefix string) {
	ctx := context.WithoutCancel(c.ctx)
	b, err := backends.Open(ctx, c.url)
	if err != nil {
		t.Logf("cleanup of %s: %v", prefix, err)
		return
	}
	defer b.Close()
	var keys []string
	for a, err := range b.List(ctx, prefix) {
		if err != nil {
			t.Logf("cleanup of %s: %v", prefix, err)
			return
		}
		keys = append(keys, a.Key)
	}
	for _, k := range keys {
		if err := b.Delete(ctx, k); err != nil {
			t.Logf("cleanup of %s: %v", k, err)
		}
	}
}

// newStorage is Harness.NewStorage: every call of the Opener it returns opens a new
// instance over the check's prefix.
func (c *conformanceTarget) newStorage(t testing.TB) conformance.Opener {
	prefix := c.newPrefix(t)
	return func(t testing.TB) storage.Driver { return openPrefixed(c.ctx, t, c.url, prefix) }
}

// location is what a child process of the check
// instances/conditional_puts_across_processes needs to open the check's storage:
// the backend's URL and the check's prefix. The URL may hold a password: the suite
// hands the location to the child in an environment variable only, and no message
// here repeats it.
type location struct {
	Backend string `json:"backend"`
	Prefix  string `json:"prefix"`
}

// newLocation is Harness.NewLocation: a fresh prefix like newStorage's, as a string a
// child process opens with openLocation.
func (c *conformanceTarget) newLocation(t testing.TB) string {
	if u, err := url.Parse(c.url); err == nil && u.Scheme == "mem" {
		t.Skip("mem:// storage lives in this process's memory, which no other process can open: " +
			"conditional puts are not checked across processes (use a backend that processes share)")
	}
	loc, err := json.Marshal(location{Backend: c.url, Prefix: c.newPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	return string(loc)
}

// openLocation is Harness.OpenLocation, in the parent and in a child process.
func openLocation(ctx context.Context, t testing.TB, loc string) storage.Driver {
	var l location
	if err := json.Unmarshal([]byte(loc), &l); err != nil || l.Backend == "" {
		// Neither the text nor the parser's message (which quotes it) is repeated:
		// it holds the URL.
		t.Fatal("conformance: the location is not one lectern conformance made")
	}
	return openPrefixed(ctx, t, l.Backend, l.Prefix)
}

// openPrefixed opens a new instance of the backend at rawURL, wrapped to keep every
// key under prefix, and closes it when the test ends.
func openPrefixed(ctx context.Context, t testing.TB, rawURL, prefix string) storage.Driver {
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

// isConformanceChild reports whether this process is a child that the check
// instances/conditional_puts_across_processes of `lectern conformance` started: the
// suite's variable is set and the arguments are the test flags the suite passes
// (-test.run=… first), so that the variable leaked into a shell does not turn every
// command into a child.
func isConformanceChild(args []string) bool {
	return conformance.ChildProcess() && len(args) > 0 && strings.HasPrefix(args[0], "-test.run=")
}

// runConformanceChild runs this binary as such a child: testing parses the test flags
// (os.Args), and conformance.Run races its parent on the storage the location in the
// suite's variable names, instead of running the suite. The backend's URL comes with
// the location, through the environment. It returns the exit code.
func runConformanceChild() int {
	ctx := context.Background()
	tests := []testing.InternalTest{{Name: conformanceTestName, F: func(t *testing.T) {
		conformance.Run(t, conformance.Harness{
			OpenLocation: func(t testing.TB, loc string) storage.Driver { return openLocation(ctx, t, loc) },
		})
	}}}
	return testing.MainStart(testDeps{}, tests, nil, nil, nil).Run()
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
