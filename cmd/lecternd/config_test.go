package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lecternd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigPrecedence: flags > environment > file > defaults, setting by setting.
func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, `
# a comment, as operators write them
listen: "127.0.0.1:9000"
role: components
log_level: debug
snapshot_interval: 1m
retention:
  expiry: 30d
  grace: 7d
limits:
  max_request_body: 2MiB
  max_handouts: 10
  max_streams_per_token: 3
`)
	cfg, err := loadConfig(
		[]string{"--config", file, "--role", "conferencing", "--max-handouts", "12"},
		env(map[string]string{"LECTERN_ROLE": "all", "LECTERN_SNAPSHOT_INTERVAL": "90s", "LECTERN_MAX_HANDOUTS": "11", "LECTERN_MAX_OPEN_UPLOADS": "7"}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def := defaultConfig()
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen from file", cfg.Listen, "127.0.0.1:9000"},
		{"role: flag over env over file", cfg.Role, "conferencing"},
		{"log level from file", cfg.LogLevel, "debug"},
		{"snapshot: env over file", time.Duration(cfg.SnapshotInterval), 90 * time.Second},
		{"expiry in days", time.Duration(cfg.Retention.Expiry), 30 * 24 * time.Hour},
		{"grace", time.Duration(cfg.Retention.Grace), 7 * 24 * time.Hour},
		{"size with unit", int64(cfg.Limits.MaxRequestBody), int64(2 << 20)},
		{"count: flag over env over file", cfg.Limits.MaxHandouts, 12},
		{"default kept", cfg.Limits.MaxContentFiles, def.Limits.MaxContentFiles},
		{"open uploads from env", cfg.Limits.MaxOpenUploads, 7},
		{"streams per token from file", cfg.Limits.MaxStreamsPerToken, 3},
		{"streams per conference default", cfg.Limits.MaxStreamsPerConference, def.Limits.MaxStreamsPerConference},
		{"log format default", cfg.LogFormat, "text"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if !filepath.IsAbs(cfg.DataDir) || !strings.HasPrefix(cfg.Backend, "file:///") || !strings.HasSuffix(cfg.Backend, "/lectern-data/store") {
		t.Errorf("data dir %q, backend %q", cfg.DataDir, cfg.Backend)
	}
}

func TestConfigConfigFileFromEnvironment(t *testing.T) {
	file := writeConfig(t, "listen: 127.0.0.1:9100\n")
	cfg, err := loadConfig(nil, env(map[string]string{"LECTERN_CONFIG": file}), io.Discard)
	if err != nil || cfg.Listen != "127.0.0.1:9100" {
		t.Fatalf("%v, listen %q", err, cfg.Listen)
	}
}

func TestConfigRefusesMistakes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		say  string
	}{
		{"misspelt key in file", nil, nil, "lisen: x\n", "lisen"},
		{"bad yaml", nil, nil, "listen: [\n", "config file"},
		{"second document", nil, nil, "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n", "second YAML document (at line 2)"},
		{"bad yaml in a second document", nil, nil, "listen: 127.0.0.1:1\n---\nlisten: [\n", "config file"},
		{"bad duration flag", []string{"--snapshot-interval", "soon"}, nil, "", "snapshot-interval"},
		{"bad size env", nil, map[string]string{"LECTERN_MAX_FILE_SIZE": "huge"}, "", "LECTERN_MAX_FILE_SIZE"},
		{"zero snapshot", []string{"--snapshot-interval", "0s"}, nil, "", "positive"},
		{"zero open uploads", []string{"--max-open-uploads", "0"}, nil, "", "positive"},
		{"negative streams per token", nil, map[string]string{"LECTERN_MAX_STREAMS_PER_TOKEN": "-1"}, "", "positive"},
		{"zero streams per conference in file", nil, nil, "limits:\n  max_streams_per_conference: 0\n", "positive"},
		{"idle-close of nanoseconds", []string{"--idle-close", "3ns"}, nil, "", "idle-close must be at least 1s"},
		{"idle-close under a second in file", nil, nil, "idle_close: 900ms\n", "idle-close must be at least 1s"},
		{"bad duration in file", nil, nil, "listen: 127.0.0.1:1\nretention:\n  expiry: soon\n", `line 3: "soon" is not a duration`},
		{"bad size in file", nil, nil, "limits:\n  max_file_size: huge\n", `line 2: "huge" is not a size`},
		{"list for a duration in file", nil, nil, "snapshot_interval: [1m]\n", "line 1: want a single value"},
		{"grace too long", []string{"--retention-grace", "400d"}, nil, "", "365d"},
		{"cert without key", []string{"--tls-cert", "c.pem"}, nil, "", "go together"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "", "log level"},
		{"bad role", []string{"--role", "x"}, nil, "", "role"},
		{"stray argument", []string{"serve"}, nil, "", "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			_, err := loadConfig(args, env(tt.env), io.Discard)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("err %v, want a usage error mentioning %q", err, tt.say)
			}
		})
	}
}

func TestDurationAndSizeRoundTrip(t *testing.T) {
	for _, s := range []string{"14d", "5m0s", "1h30m0s"} {
		var d Duration
		if err := d.Set(s); err != nil || d.String() != s {
			t.Errorf("Duration %q -> %q, %v", s, d.String(), err)
		}
	}
	for _, n := range []ByteSize{0, 1, 1 << 20, 50_000_000, 123_456_789} {
		b := n
		if err := b.Set(n.String()); err != nil || b != n {
			t.Errorf("ByteSize %d -> %q -> %d, %v", n, n.String(), b, err)
		}
	}
	// Every default survives String and Set unchanged (the help text shows them).
	def, back := defaultConfig(), defaultConfig()
	for _, o := range options {
		if err := o.value(&back).Set(o.value(&def).String()); err != nil {
			t.Errorf("default of %s does not parse back: %v", o.name, err)
		}
	}
	if !reflect.DeepEqual(back, def) {
		t.Errorf("defaults changed by a round trip:\n%+v\n%+v", back, def)
	}
}

// TestEngineRetentionKeepsConfiguredValues: the engine gets the configured retention
// as is; a grace of 0 (allowed: "0–365 days") means delete right at expiry, not the
// engine's default.
func TestEngineRetentionKeepsConfiguredValues(t *testing.T) {
	for _, r := range []Retention{
		{Expiry: Duration(time.Hour), Grace: 0},
		{Expiry: Duration(30 * 24 * time.Hour), Grace: Duration(7 * 24 * time.Hour)},
	} {
		got := engineRetention(r)
		if got.DefaultExpiry != time.Duration(r.Expiry) || got.Grace != time.Duration(r.Grace) {
			t.Errorf("engineRetention(%+v) = expiry %s, grace %s", r, got.DefaultExpiry, got.Grace)
		}
	}
}

// TestConfigReferenceListsEverySetting keeps docs/operations.md's configuration table
// and the options in step: every setting has a row naming its flag and environment
// variable, and every row is a setting.
func TestConfigReferenceListsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag name -> row
	for line := range strings.Lines(string(raw)) {
		if flagName, ok := strings.CutPrefix(line, "| `--"); ok {
			flagName, _, _ = strings.Cut(flagName, "`")
			rows[flagName] = line
		}
	}
	want := map[string]bool{"config": true}
	for _, o := range options {
		want[o.name] = true
	}
	for name := range want {
		row, ok := rows[name]
		if !ok {
			t.Errorf("docs/operations.md's configuration table has no row for --%s", name)
			continue
		}
		if !strings.Contains(row, "`"+envName(name)+"`") {
			t.Errorf("the row of --%s does not name %s", name, envName(name))
		}
	}
	for name := range rows {
		if !want[name] {
			t.Errorf("docs/operations.md documents --%s, which lecternd does not have", name)
		}
	}
}

// TestVersionFlag: --version prints one line naming the build and exits 0 without
// creating anything.
func TestVersionFlag(t *testing.T) {
	t.Chdir(t.TempDir())
	var stdout, stderr strings.Builder
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "lecternd ") || strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("printed %q", stdout.String())
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Fatalf("--version created %v", entries)
	}
}

// One YAML document, however it is spelt, is read; an empty file is the defaults.
func TestConfigFileOneDocument(t *testing.T) {
	for _, file := range []string{
		"listen: 127.0.0.1:9\n",
		"---\nlisten: 127.0.0.1:9\n",
		"listen: 127.0.0.1:9\n...\n",
		"# settings\nlisten: 127.0.0.1:9 # the port\n",
		"",
		"# nothing set\n",
		// An empty document after the settings, as tools that join files leave.
		"listen: 127.0.0.1:9\n---\n",
		"listen: 127.0.0.1:9\n---\n# end\n",
		"listen: 127.0.0.1:9\n---\n---\n",
	} {
		cfg, err := loadConfig([]string{"--config", writeConfig(t, file)}, env(nil), io.Discard)
		want := defaultConfig().Listen
		if strings.Contains(file, "listen") {
			want = "127.0.0.1:9"
		}
		if err != nil || cfg.Listen != want {
			t.Errorf("%q: listen %q, %v; want %q", file, cfg.Listen, err, want)
		}
	}
}

// TestConfigCORSOrigins: the origin list comes from a flag, the environment or the
// file (a list or one comma-separated string), in the usual order, in the form
// browsers send; a value that is not an origin stops the start naming the setting.
func TestConfigCORSOrigins(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want []string
		say  string // non-empty: the error must mention it
	}{
		{name: "default none"},
		{name: "flag", args: []string{"--cors-origins", "https://app.example.org,http://localhost:5173"},
			want: []string{"https://app.example.org", "http://localhost:5173"}},
		{name: "env", env: map[string]string{"LECTERN_CORS_ORIGINS": " https://App.Example.org:443 "},
			want: []string{"https://app.example.org"}},
		{name: "file list", file: "cors_origins:\n  - https://a.example\n  - https://b.example:8443\n",
			want: []string{"https://a.example", "https://b.example:8443"}},
		{name: "file string", file: "cors_origins: https://a.example, https://b.example\n",
			want: []string{"https://a.example", "https://b.example"}},
		{name: "flag over env over file", file: "cors_origins: [https://file.example]\n",
			env:  map[string]string{"LECTERN_CORS_ORIGINS": "https://env.example"},
			args: []string{"--cors-origins", "https://flag.example"}, want: []string{"https://flag.example"}},
		{name: "env over file", file: "cors_origins: [https://file.example]\n",
			env: map[string]string{"LECTERN_CORS_ORIGINS": "https://env.example"}, want: []string{"https://env.example"}},
		{name: "star flag", args: []string{"--cors-origins", "*"}, say: `-cors-origins: bad CORS origin "*"`},
		{name: "path in env", env: map[string]string{"LECTERN_CORS_ORIGINS": "https://a.example/app"},
			say: `LECTERN_CORS_ORIGINS: bad CORS origin "https://a.example/app": an origin is scheme, host and port only`},
		{name: "no scheme in file", file: "cors_origins:\n  - https://a.example\n  - a.example\n",
			say: `line 3: bad CORS origin "a.example"`},
		{name: "map in file", file: "cors_origins:\n  a: b\n", say: "line 2: want a list of origins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			cfg, err := loadConfig(args, env(tt.env), io.Discard)
			if tt.say != "" {
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.say) {
					t.Fatalf("err %v, want a usage error mentioning %q", err, tt.say)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal([]string(cfg.CORSOrigins), tt.want) {
				t.Fatalf("origins %q, want %q", cfg.CORSOrigins, tt.want)
			}
		})
	}
}
