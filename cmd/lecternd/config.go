package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"

	"github.com/lectern/lectern/cmd/internal/duration"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/stream"
)

// Config is everything lecternd can be told. Each field can come from the YAML config
// file, from a LECTERN_* environment variable and from a flag; flags win over the
// environment, the environment over the file, the file over the defaults.
//
// YAML because go.yaml.in/yaml/v3 (the YAML organisation's maintained line of
// gopkg.in/yaml.v3) is already in the module graph, and because a YAML file can carry
// comments, which operators want in a config file.
type Config struct {
	DataDir          string   `yaml:"data_dir"`
	Backend          string   `yaml:"backend"`
	Listen           string   `yaml:"listen"`
	TLSCert          string   `yaml:"tls_cert"`
	TLSKey           string   `yaml:"tls_key"`
	Role             string   `yaml:"role"`
	LogLevel         string   `yaml:"log_level"`
	LogFormat        string   `yaml:"log_format"`
	SnapshotInterval Duration `yaml:"snapshot_interval"`
	IdleClose        Duration `yaml:"idle_close"`
	ShutdownTimeout  Duration `yaml:"shutdown_timeout"`
	// WriteStallTimeout abandons a download whose client takes no bytes for this long.
	WriteStallTimeout Duration  `yaml:"write_stall_timeout"`
	AdminTokenTTL     Duration  `yaml:"admin_token_ttl"`
	Retention         Retention `yaml:"retention"`
	Limits            Limits    `yaml:"limits"`
	// CORSOrigins are the origins of the browser apps that may call the API
	// (docs/operations.md: Browser clients and CORS); empty: none.
	CORSOrigins Origins `yaml:"cors_origins"`
}

// Retention is how long conferences and their content live (SPEC section 1).
type Retention struct {
	Expiry Duration `yaml:"expiry"` // a conference expires this long after creation
	Grace  Duration `yaml:"grace"`  // its content is deleted this long after expiry
}

// Limits are the size and count limits (SPEC section 1; the engine enforces the
// per-file and per-conference ones, the HTTP tier the request body one).
type Limits struct {
	MaxRequestBody        ByteSize `yaml:"max_request_body"`
	MaxFileSize           ByteSize `yaml:"max_file_size"`
	MaxHandoutSize        ByteSize `yaml:"max_handout_size"`
	MaxConferenceContent  ByteSize `yaml:"max_conference_content"`
	MaxConferenceHandouts ByteSize `yaml:"max_conference_handouts"`
	MaxContentFiles       int      `yaml:"max_content_files"`
	MaxHandouts           int      `yaml:"max_handouts"`
	// MaxOpenUploads caps a conference's unfinished uploads (package stream).
	MaxOpenUploads int `yaml:"max_open_uploads"`
	// MaxStreamsPerToken and MaxStreamsPerConference cap open event streams
	// (package events).
	MaxStreamsPerToken      int `yaml:"max_streams_per_token"`
	MaxStreamsPerConference int `yaml:"max_streams_per_conference"`
}

func defaultConfig() Config {
	return Config{
		DataDir:           "lectern-data",
		Listen:            ":8443",
		Role:              string(httpapi.ServeAll),
		LogLevel:          "info",
		LogFormat:         "text",
		SnapshotInterval:  Duration(5 * time.Minute),
		IdleClose:         Duration(30 * time.Minute),
		ShutdownTimeout:   Duration(30 * time.Second),
		WriteStallTimeout: Duration(httpapi.DefaultWriteStallTimeout),
		AdminTokenTTL:     Duration(365 * 24 * time.Hour),
		Retention:         Retention{Expiry: Duration(14 * 24 * time.Hour), Grace: Duration(14 * 24 * time.Hour)},
		Limits: Limits{
			MaxRequestBody:          1 << 20,
			MaxFileSize:             50_000_000,
			MaxHandoutSize:          25_000_000,
			MaxConferenceContent:    500_000_000,
			MaxConferenceHandouts:   100_000_000,
			MaxContentFiles:         8052,
			MaxHandouts:             30000,
			MaxOpenUploads:          stream.DefaultMaxOpenUploads,
			MaxStreamsPerToken:      events.DefaultMaxPerKey,
			MaxStreamsPerConference: events.DefaultMaxPerConference,
		},
	}
}

// option binds one setting to its flag name; its environment variable is LECTERN_
// followed by the flag name in upper case with '-' as '_'.
type option struct {
	name, usage string
	value       func(*Config) flag.Value
}

func envName(flagName string) string {
	return "LECTERN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

var options = []option{
	{"data-dir", "folder for lecternd's own files (config/: TLS certificate, KEK, token secret, admin token) and, by default, the content store", func(c *Config) flag.Value { return (*stringValue)(&c.DataDir) }},
	{"backend", "storage URL: file:///abs/path or file:rel/path; s3://bucket/prefix?endpoint=URL&region=NAME&path_style=true; smb://[domain;]user@host[:port]/share[/folder]?password_file=FILE; mem://name (tests only); default file://<data-dir>/store (docs/operations.md: Storage URLs)", func(c *Config) flag.Value { return (*stringValue)(&c.Backend) }},
	{"listen", "address to listen on", func(c *Config) flag.Value { return (*stringValue)(&c.Listen) }},
	{"tls-cert", "PEM certificate file (default: a self-signed one created in <data-dir>/config)", func(c *Config) flag.Value { return (*stringValue)(&c.TLSCert) }},
	{"tls-key", "PEM private key file for --tls-cert", func(c *Config) flag.Value { return (*stringValue)(&c.TLSKey) }},
	{"role", "routes to serve: all, conferencing or components", func(c *Config) flag.Value { return (*stringValue)(&c.Role) }},
	{"log-level", "debug, info, warn or error", func(c *Config) flag.Value { return (*stringValue)(&c.LogLevel) }},
	{"log-format", "text or json", func(c *Config) flag.Value { return (*stringValue)(&c.LogFormat) }},
	{"snapshot-interval", "how often the engine snapshots metadata", func(c *Config) flag.Value { return &c.SnapshotInterval }},
	{"idle-close", "a conference no request used for this long is closed (flushed, its memory freed) until the next request", func(c *Config) flag.Value { return &c.IdleClose }},
	{"shutdown-timeout", "how long a graceful shutdown waits for requests, then again for the flush", func(c *Config) flag.Value { return &c.ShutdownTimeout }},
	{"write-stall-timeout", "a download (content, or decrypted by the server) whose client takes no bytes for this long is abandoned, freeing its connection and storage read", func(c *Config) flag.Value { return &c.WriteStallTimeout }},
	{"admin-token-ttl", "lifetime of the admin token minted on first start", func(c *Config) flag.Value { return &c.AdminTokenTTL }},
	{"retention-expiry", "a conference expires this long after creation (e.g. 14d)", func(c *Config) flag.Value { return &c.Retention.Expiry }},
	{"retention-grace", "content is deleted this long after its conference expires", func(c *Config) flag.Value { return &c.Retention.Grace }},
	{"max-request-body", "largest JSON request body (e.g. 1MiB); slide-set XML has its own 8 MiB", func(c *Config) flag.Value { return &c.Limits.MaxRequestBody }},
	{"max-file-size", "largest content file", func(c *Config) flag.Value { return &c.Limits.MaxFileSize }},
	{"max-handout-size", "largest handout", func(c *Config) flag.Value { return &c.Limits.MaxHandoutSize }},
	{"max-conference-content", "content bytes per conference", func(c *Config) flag.Value { return &c.Limits.MaxConferenceContent }},
	{"max-conference-handouts", "handout bytes per conference", func(c *Config) flag.Value { return &c.Limits.MaxConferenceHandouts }},
	{"max-content-files", "content files per conference", func(c *Config) flag.Value { return (*intValue)(&c.Limits.MaxContentFiles) }},
	{"max-handouts", "handouts per conference", func(c *Config) flag.Value { return (*intValue)(&c.Limits.MaxHandouts) }},
	{"max-open-uploads", "unfinished uploads per conference", func(c *Config) flag.Value { return (*intValue)(&c.Limits.MaxOpenUploads) }},
	{"max-streams-per-token", "open event streams per token", func(c *Config) flag.Value { return (*intValue)(&c.Limits.MaxStreamsPerToken) }},
	{"cors-origins", "comma-separated origins of browser apps allowed to call the API (e.g. https://app.example.org,http://localhost:5173); empty: no CORS", func(c *Config) flag.Value { return &c.CORSOrigins }},
	{"max-streams-per-conference", "open event streams per conference", func(c *Config) flag.Value { return (*intValue)(&c.Limits.MaxStreamsPerConference) }},
}

// errUsage reports a configuration mistake (exit code 2).
var errUsage = errors.New("usage")

// loadConfig applies defaults, the config file, the environment and the flags, in
// that order, and checks the result.
func loadConfig(args []string, getenv func(string) (string, bool), stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("lecternd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configPath string
	fs.StringVar(&configPath, "config", "", "YAML config file (also "+envName("config")+")")
	showVersion := fs.Bool("version", false, "print the version and exit")
	raw := map[string]string{}
	var order []string
	def := defaultConfig()
	for _, o := range options {
		usage := fmt.Sprintf("%s (env %s, default %q)", o.usage, envName(o.name), o.value(&def).String())
		fs.Var(&recorder{name: o.name, into: raw, order: &order}, o.name, usage)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "lecternd: the Lectern conference content server.\n\nUsage: lecternd [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *showVersion {
		return Config{}, errShowVersion
	}
	cfg := defaultConfig()
	if configPath == "" {
		configPath, _ = getenv(envName("config"))
	}
	if configPath != "" {
		if err := readConfigFile(configPath, &cfg); err != nil {
			return Config{}, fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	for _, o := range options {
		if v, ok := getenv(envName(o.name)); ok && v != "" {
			if err := o.value(&cfg).Set(v); err != nil {
				return Config{}, fmt.Errorf("%w: %s: %w", errUsage, envName(o.name), err)
			}
		}
	}
	byName := map[string]option{}
	for _, o := range options {
		byName[o.name] = o
	}
	for _, name := range order {
		if err := byName[name].value(&cfg).Set(raw[name]); err != nil {
			return Config{}, fmt.Errorf("%w: -%s: %w", errUsage, name, err)
		}
	}
	if err := cfg.finish(); err != nil {
		return Config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	return cfg, nil
}

func readConfigFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is an error, not a silently ignored line
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty: the defaults
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	// One Decode reads one document; settings in a second one would be ignored
	// without a word, as a misspelt key would be without KnownFields.
	// An empty one (a trailing "---", as tools that join files leave) is fine.
	for {
		var next yaml.Node
		switch err := dec.Decode(&next); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("config file %s: %w", path, err)
		case !emptyDocument(&next):
			return fmt.Errorf("config file %s: a second YAML document (at line %d) is not read; put every setting in one document", path, next.Line)
		}
	}
}

// emptyDocument reports whether a YAML document holds nothing (or only a null).
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// minIdleClose is the shortest --idle-close.
const minIdleClose = Duration(time.Second)

// finish fills the derived defaults and checks values.
func (c *Config) finish() error {
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	c.DataDir = abs
	if c.Backend == "" {
		// The store is a sibling of config/, never its parent: the KEK must not sit
		// inside the storage tree, where a backup or `lectern migrate` of the tree
		// would carry it next to the ciphertext it protects.
		c.Backend = "file://" + filepath.ToSlash(filepath.Join(abs, "store"))
	}
	if _, err := httpapi.ParseServerRole(c.Role); err != nil {
		return err
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log format %q: want text or json", c.LogFormat)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert and tls-key go together")
	}
	for name, d := range map[string]Duration{
		"snapshot-interval": c.SnapshotInterval, "shutdown-timeout": c.ShutdownTimeout, "idle-close": c.IdleClose,
		"write-stall-timeout": c.WriteStallTimeout,
		"admin-token-ttl":     c.AdminTokenTTL, "retention-expiry": c.Retention.Expiry,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive", name)
		}
	}
	// The idle check runs every quarter of it: below a second it would spin (at under
	// 4ns, a zero interval) for no use.
	if c.IdleClose < minIdleClose {
		return fmt.Errorf("idle-close must be at least %s", time.Duration(minIdleClose))
	}
	if c.Retention.Grace < 0 || c.Retention.Grace > Duration(365*24*time.Hour) {
		return errors.New("retention-grace must be between 0 and 365d")
	}
	if time.Duration(c.AdminTokenTTL) > httpapi.MaxTokenTTL {
		return fmt.Errorf("admin-token-ttl is over the limit of %s", httpapi.MaxTokenTTL)
	}
	if c.Limits.MaxRequestBody <= 0 || c.Limits.MaxFileSize <= 0 || c.Limits.MaxHandoutSize <= 0 ||
		c.Limits.MaxConferenceContent <= 0 || c.Limits.MaxConferenceHandouts <= 0 ||
		c.Limits.MaxContentFiles <= 0 || c.Limits.MaxHandouts <= 0 || c.Limits.MaxOpenUploads <= 0 ||
		c.Limits.MaxStreamsPerToken <= 0 || c.Limits.MaxStreamsPerConference <= 0 {
		return errors.New("limits must be positive")
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// recorder keeps a flag's raw value, to apply after the file and the environment.
type recorder struct {
	name  string
	into  map[string]string
	order *[]string
}

func (r *recorder) String() string { return "" }
func (r *recorder) Set(v string) error {
	if _, seen := r.into[r.name]; !seen {
		*r.order = append(*r.order, r.name)
	}
	r.into[r.name] = v
	return nil
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }

type intValue int

func (i *intValue) String() string { return strconv.Itoa(int(*i)) }
func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*i = intValue(n)
	return nil
}

// Duration is a time.Duration that also accepts whole days ("14d"), since retention
// is counted in days.
type Duration time.Duration

func (d *Duration) String() string {
	v := time.Duration(*d)
	if v != 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return v.String()
}

// Set parses "90s", "5m", "336h" or "14d", by the rule the lectern CLI shares.
func (d *Duration) Set(s string) error {
	v, err := duration.Parse(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a duration string.
// yaml.v3 does not add the position to a custom unmarshaler's error, so it is added here.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return atLine(n, d.Set(n.Value)) }

// ByteSize is a byte count that also accepts units ("50MB", "1MiB").
type ByteSize int64

// String is the shortest exact spelling: "1.0 MiB", "50 MB", or the plain number.
func (b *ByteSize) String() string {
	n := uint64(*b)
	for _, s := range []string{humanize.IBytes(n), humanize.Bytes(n)} {
		if v, err := humanize.ParseBytes(s); err == nil && v == n {
			return s
		}
	}
	return strconv.FormatUint(n, 10)
}

// Set parses a plain number or a size with a unit, using go-humanize's parser.
func (b *ByteSize) Set(s string) error {
	n, err := humanize.ParseBytes(s)
	if err != nil || n > 1<<62 {
		return fmt.Errorf("%q is not a size (e.g. 1048576, 50MB, 1MiB)", s)
	}
	*b = ByteSize(n)
	return nil
}

// UnmarshalYAML reads a number or a size string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error { return atLine(n, b.Set(n.Value)) }

// atLine prefixes err with the line of n, as yaml.v3 does for its own errors.
func atLine(n *yaml.Node, err error) error {
	if err == nil {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a single value", n.Line)
	}
	return fmt.Errorf("line %d: %w", n.Line, err)
}

// Origins is the CORS origin list: comma-separated in a flag or the environment, a
// list or a comma-separated string in the config file. Each origin is checked (and
// put in the form browsers send) when it is read, so a bad one stops the start.
type Origins []string

func (o *Origins) String() string { return strings.Join(*o, ",") }

// Set replaces the list (a flag or variable set later wins, as for every setting).
func (o *Origins) Set(s string) error {
	v, err := httpapi.ParseOrigins(s)
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// UnmarshalYAML reads a sequence of origins or one comma-separated string.
func (o *Origins) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return atLine(n, o.Set(n.Value))
	case yaml.SequenceNode:
		var all []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want an origin", item.Line)
			}
			v, err := httpapi.ParseOrigins(item.Value)
			if err != nil {
				return atLine(item, err)
			}
			all = append(all, v...)
		}
		*o = all
		return nil
	}
	return fmt.Errorf("line %d: want a list of origins", n.Line)
}
