package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi"
)

// engineOn opens the conference engine on a lecternd data dir's store with its KEK,
// to put content there the way the server does.
func engineOn(t testing.TB, s *server) *conference.Engine {
	t.Helper()
	b, err := backends.Open(context.Background(), s.backendURL())
	if err != nil {
		t.Fatal(err)
	}
	kek, err := readKEK(s.kekFile())
	if err != nil {
		t.Fatal(err)
	}
	e, err := conference.New(conference.Config{Bucket: b, KEK: kek, SnapshotInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close(context.Background())
		b.Close()
	})
	return e
}

func TestServerCommands(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "lectern-data"))
	admin := s.adminEnv(t)

	t.Run("conference create, list, get", func(t *testing.T) {
		r := cli(t, admin, "conference", "create", "--id", "demo", "--organizer", "sip:alice@example.com", "--expires", "2099-01-01T00:00:00Z").must(t)
		if !strings.Contains(r.stdout, "demo") || !strings.Contains(r.stdout, "sip:alice@example.com") || !strings.Contains(r.stdout, "2099-01-01T00:00:00Z") {
			t.Fatalf("create output:\n%s", r.stdout)
		}
		r = cli(t, admin, "conference", "create", "--id", "demo", "--organizer", "sip:alice@example.com")
		if r.code != exitError || !strings.Contains(r.stderr, "conflict (HTTP 409)") {
			t.Fatalf("second create: exit %d, %s", r.code, r.stderr)
		}
		cli(t, admin, "conference", "create", "--id", "other", "--organizer", "sip:carol@example.com").must(t)
		r = cli(t, admin, "-o", "json", "conference", "list").must(t)
		var list struct{ Conferences []conferenceInfo }
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if len(list.Conferences) != 2 || list.Conferences[0].ID != "demo" || list.Conferences[1].ID != "other" {
			t.Fatalf("list: %+v", list.Conferences)
		}
		r = cli(t, admin, "-o", "json", "conference", "get", "demo").must(t)
		var info conferenceInfo
		if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.OrgHash != cli(t, nil, "hash-uri", "sip:alice@example.com").stdout[:32] {
			t.Fatalf("get: %+v %v", info, err)
		}
	})

	var presenter, attendee map[string]string
	t.Run("token", func(t *testing.T) {
		r := cli(t, admin, "token", "--role", "presenter", "--conference", "demo", "--subject", "sip:bob@example.com", "--ttl", "1h").must(t)
		tok := strings.TrimSpace(r.stdout)
		if strings.Count(tok, ".") != 2 || !strings.Contains(r.stderr, "presenter token for conference demo") {
			t.Fatalf("token output: %q / %q", r.stdout, r.stderr)
		}
		presenter = map[string]string{"LECTERN_SERVER": s.url, "LECTERN_TOKEN": tok, "LECTERN_CA_FILE": s.caFile()}
		// A presenter may mint attendee tokens of its own conference, nothing above.
		r = cli(t, presenter, "token", "--role", "attendee", "--conference", "demo").must(t)
		attendee = map[string]string{"LECTERN_SERVER": s.url, "LECTERN_TOKEN": strings.TrimSpace(r.stdout), "LECTERN_CA_FILE": s.caFile()}
		if r := cli(t, presenter, "token", "--role", "admin", "--conference", "demo"); r.code != exitError || !strings.Contains(r.stderr, "forbidden") {
			t.Fatalf("presenter minting admin: exit %d %s", r.code, r.stderr)
		}
		if r := cli(t, admin, "token", "--role", "wizard"); r.code != exitError || !strings.Contains(r.stderr, "bad_request") {
			t.Fatalf("bad role: exit %d %s", r.code, r.stderr)
		}
	})

	e := engineOn(t, s)
	plain := randomBytes(t, 300_000) // five segments
	st, err := e.StoreContent(context.Background(), "demo", conference.SlideContent, "png", bytes.NewReader(plain), int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("content list", func(t *testing.T) {
		r := cli(t, presenter, "content", "list", "--conference", "demo").must(t)
		if !strings.Contains(r.stdout, st.Name) || !strings.Contains(r.stdout, "300000") || !strings.Contains(r.stdout, st.URLPath) {
			t.Fatalf("content list:\n%s", r.stdout)
		}
		// Listing content is for presenters; an attendee gets the API's code.
		if r := cli(t, attendee, "content", "list", "--conference", "demo"); r.code != exitError || !strings.Contains(r.stderr, "forbidden (HTTP 403)") {
			t.Fatalf("attendee: exit %d %s", r.code, r.stderr)
		}
		if r := cli(t, presenter, "content", "list", "--conference", "other"); r.code != exitError || !strings.Contains(r.stderr, "forbidden") {
			t.Fatalf("other conference: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("download", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "deck.png")
		r := cli(t, attendee, "--progress", "always", "download", "--key", st.Key.Hex(), "--out", out, st.URLPath).must(t)
		if fileSHA(t, out) != sha(plain) || !strings.Contains(r.stderr, "verified 300000 bytes") || !strings.Contains(r.stderr, "100%") {
			t.Fatalf("downloaded file differs; %s", r.stderr)
		}
		if r := cli(t, attendee, "download", "--key", st.Key.Hex(), "--out", out, st.URLPath); r.code != exitUsage {
			t.Fatalf("existing output without --force: exit %d", r.code)
		}
		// The full URL works as well, and the default name drops the .e of the type.
		full := s.url + st.URLPath
		wd, _ := os.Getwd()
		if err := os.Chdir(dir); err != nil {
			t.Fatal(err)
		}
		r = cli(t, attendee, "download", "--key", st.Key.Hex(), full)
		os.Chdir(wd)
		r.must(t)
		if fileSHA(t, filepath.Join(dir, strings.TrimSuffix(st.Name, ".epng")+".png")) != sha(plain) {
			t.Fatal("default-named download differs")
		}
	})

	t.Run("download by signed URL, without a token", func(t *testing.T) {
		secret, err := os.ReadFile(filepath.Join(s.dir, "config", "token-secret.hex"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := hex.DecodeString(strings.TrimSpace(string(secret)))
		if err != nil {
			t.Fatal(err)
		}
		auth, err := httpapi.NewAuthority(raw)
		if err != nil {
			t.Fatal(err)
		}
		signed := auth.SignedContentURL(st.URLPath, time.Minute)
		noToken := map[string]string{"LECTERN_SERVER": s.url, "LECTERN_CA_FILE": s.caFile()}
		out := filepath.Join(t.TempDir(), "signed.png")
		cli(t, noToken, "download", "--key", st.Key.Hex(), "--out", out, signed).must(t)
		if fileSHA(t, out) != sha(plain) {
			t.Fatal("signed download differs")
		}
		tampered := strings.Replace(signed, "sig=", "sig=A", 1)
		if r := cli(t, noToken, "download", "--key", st.Key.Hex(), "--out", out+"2", tampered); r.code != exitError || !strings.Contains(r.stderr, "unauthenticated (HTTP 401)") {
			t.Fatalf("tampered signature: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("download ranges", func(t *testing.T) {
		tests := []struct {
			rng       string
			from, end int // plaintext slice
		}{
			{"0-0", 0, 1},
			{"70000-140000", 70000, 140001},
			{"65400-65600", 65400, 65601}, // across the first segment boundary
			{"250000-", 250000, 300000},
			{"299999-299999", 299999, 300000},
			{"290000-400000", 290000, 300000}, // cut at the end
		}
		for _, tc := range tests {
			out := filepath.Join(t.TempDir(), "part")
			cli(t, attendee, "download", "--key", st.Key.Hex(), "--range", tc.rng, "--out", out, st.URLPath).must(t)
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, plain[tc.from:tc.end]) {
				t.Fatalf("range %s: got %d bytes, want %d (content differs: %v)", tc.rng, len(got), tc.end-tc.from, len(got) == tc.end-tc.from)
			}
		}
		r := cli(t, attendee, "download", "--key", st.Key.Hex(), "--range", "300000-", "--out", filepath.Join(t.TempDir(), "x"), st.URLPath)
		if r.code != exitUsage || !strings.Contains(r.stderr, "past the end") {
			t.Fatalf("range past the end: exit %d %s", r.code, r.stderr)
		}
		// To stdout.
		r = cli(t, attendee, "download", "--key", st.Key.Hex(), "--range", "10-19", "--out", "-", st.URLPath).must(t)
		if r.stdout != string(plain[10:20]) {
			t.Fatal("range to stdout differs")
		}
	})

	t.Run("download failures leave nothing", func(t *testing.T) {
		other := strings.Repeat("ab", 32)
		for _, args := range [][]string{
			{"--key", other},                        // wrong key: the first segment fails
			{"--key", other, "--range", "5-9"},      // wrong key on a range
			{"--key", st.Key.Hex(), "--range", "x"}, // usage
		} {
			dir := t.TempDir()
			out := filepath.Join(dir, "never")
			r := cli(t, attendee, append(append([]string{"download"}, args...), "--out", out, st.URLPath)...)
			if r.code == 0 {
				t.Fatalf("%v: succeeded", args)
			}
			if strings.Contains(r.stderr, other) || strings.Contains(r.stderr, st.Key.Hex()) {
				t.Fatalf("%v: a key in the error: %s", args, r.stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("%v: left %v behind", args, entries)
			}
		}
		r := cli(t, attendee, "download", "--key", other, "--out", filepath.Join(t.TempDir(), "x"), st.URLPath)
		if !strings.Contains(r.stderr, "verification failed") {
			t.Fatalf("wrong key message: %s", r.stderr)
		}
		missing := strings.Replace(st.URLPath, st.Name, "x"+strings.Repeat("0", 32)+".epng", 1)
		r = cli(t, attendee, "download", "--key", st.Key.Hex(), "--out", filepath.Join(t.TempDir(), "x"), missing)
		if r.code != exitError || !strings.Contains(r.stderr, "not_found (HTTP 404)") {
			t.Fatalf("missing content: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("damaged content to stdout", func(t *testing.T) {
		// Segments are written out as they verify, so a damaged later segment stops
		// a download to stdout after some bytes: the message must not claim that
		// nothing was written (it may, for a file, which is never put in place).
		dmg, err := e.StoreContent(context.Background(), "demo", conference.SlideContent, "png", bytes.NewReader(plain), int64(len(plain)))
		if err != nil {
			t.Fatal(err)
		}
		info, err := e.GetConference(context.Background(), "demo")
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(s.dir, "store", filepath.FromSlash(info.Location().ContentKey(dmg.Name)))
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)-100] ^= 1
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r := cli(t, attendee, "download", "--key", dmg.Key.Hex(), "--out", "-", dmg.URLPath)
		if r.code != exitError || len(r.stdout) == 0 || strings.Contains(r.stderr, "nothing written") || !strings.Contains(r.stderr, "verification failed") {
			t.Fatalf("exit %d, %d bytes on stdout, %s", r.code, len(r.stdout), r.stderr)
		}
	})

	t.Run("TLS and tokens", func(t *testing.T) {
		noCA := map[string]string{"LECTERN_SERVER": s.url, "LECTERN_TOKEN_FILE": s.adminFile()}
		r := cli(t, noCA, "conference", "list")
		if r.code != exitError || !strings.Contains(r.stderr, "certificate") {
			t.Fatalf("untrusted certificate: exit %d %s", r.code, r.stderr)
		}
		r = cli(t, noCA, "--insecure", "conference", "list").must(t)
		if !strings.Contains(r.stderr, "WARNING") || !strings.Contains(r.stdout, "demo") {
			t.Fatalf("--insecure: %s / %s", r.stdout, r.stderr)
		}
		r = cli(t, map[string]string{"LECTERN_SERVER": s.url, "LECTERN_CA_FILE": s.caFile()}, "conference", "list")
		if r.code != exitUsage || !strings.Contains(r.stderr, "needs a token") {
			t.Fatalf("no token: exit %d %s", r.code, r.stderr)
		}
		r = cli(t, map[string]string{"LECTERN_SERVER": s.url, "LECTERN_CA_FILE": s.caFile(), "LECTERN_TOKEN": "not.a.token"}, "conference", "list")
		if r.code != exitError || !strings.Contains(r.stderr, "unauthenticated (HTTP 401)") {
			t.Fatalf("bad token: exit %d %s", r.code, r.stderr)
		}
		if r := cli(t, attendee, "conference", "list"); r.code != exitError || !strings.Contains(r.stderr, "forbidden") {
			t.Fatalf("attendee listing conferences: exit %d %s", r.code, r.stderr)
		}
		// Precedence: LECTERN_TOKEN over LECTERN_TOKEN_FILE; --token-file over both.
		both := map[string]string{"LECTERN_SERVER": s.url, "LECTERN_CA_FILE": s.caFile(), "LECTERN_TOKEN": attendee["LECTERN_TOKEN"], "LECTERN_TOKEN_FILE": s.adminFile()}
		if r := cli(t, both, "conference", "list"); r.code != exitError || !strings.Contains(r.stderr, "forbidden") {
			t.Fatalf("LECTERN_TOKEN should win: exit %d %s", r.code, r.stderr)
		}
		cli(t, both, "--token-file", s.adminFile(), "conference", "list").must(t)
	})

	t.Run("conference delete", func(t *testing.T) {
		cli(t, admin, "conference", "delete", "other").must(t)
		if r := cli(t, admin, "conference", "get", "other"); r.code != exitError || !strings.Contains(r.stderr, "not_found") {
			t.Fatalf("get after delete: exit %d %s", r.code, r.stderr)
		}
		if r := cli(t, admin, "conference", "get", "Bad_ID"); r.code != exitError || !strings.Contains(r.stderr, "HTTP 400") {
			t.Fatalf("bad id: exit %d %s", r.code, r.stderr)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		{"bogus"},
		{"conference"},
		{"conference", "frob"},
		{"conference", "create"},        // --organizer missing
		{"conference", "get"},           // id missing
		{"upload", "--conference", "x"}, // file missing
		{"download", "--key", "00", "/v1/content/a/b/c"},         // bad key
		{"--output", "yaml", "hash-uri", "sip:a"},                // bad format
		{"--server", "http://example.com", "conference", "list"}, // not https
		{"token", "--role", "admin", "--ttl", "1.5s"},
		{"hash-uri"},
		{"fsck"},
		{"migrate", "--from", "mem://a"},
	}
	for _, args := range tests {
		r := cli(t, map[string]string{"LECTERN_TOKEN": "x"}, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %s)", args, r.code, exitUsage, r.stderr)
		}
	}
	if r := cli(t, nil, "--help"); r.code != 0 || !strings.Contains(r.stdout, "Exit codes") {
		t.Fatalf("help: %d %s", r.code, r.stdout)
	}
}

// TestConnectionHints: a server that is not running and an untrusted certificate are
// errors (exit 1) that say what to do, and nothing else gets such a hint.
func TestConnectionHints(t *testing.T) {
	s := startServer(t, t.TempDir())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()

	untrusted := s.adminEnv(t)
	delete(untrusted, "LECTERN_CA_FILE")
	refused := s.adminEnv(t)
	refused["LECTERN_SERVER"] = closed
	wrongToken := s.adminEnv(t)
	delete(wrongToken, "LECTERN_TOKEN_FILE")
	wrongToken["LECTERN_TOKEN"] = "not-a-token"

	for _, tc := range []struct {
		name string
		env  map[string]string
		hint string
	}{
		{"not running", refused, "Is lecternd running at " + closed + "?"},
		{"untrusted certificate", untrusted, "--ca-file lectern-data/config/tls-cert.pem"},
		{"wrong token", wrongToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.env, "conference", "list")
			if r.code != exitError {
				t.Fatalf("exit %d, want %d: %s", r.code, exitError, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			switch {
			case tc.hint == "" && len(lines) != 1:
				t.Fatalf("a hint for an error that needs none:\n%s", r.stderr)
			case tc.hint != "" && (len(lines) != 2 || !strings.Contains(lines[1], tc.hint)):
				t.Fatalf("stderr %q, want the error and a hint with %q", r.stderr, tc.hint)
			}
		})
	}
}
