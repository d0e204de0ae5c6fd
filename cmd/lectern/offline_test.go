package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/keywrap"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

func TestHashURI(t *testing.T) {
	// The vector of core/layout's tests: the CLI must print exactly the engine's hash.
	r := cli(t, nil, "hash-uri", "sip:vw01@rtcdev.contoso.microsoft.com").must(t)
	if r.stdout != "ad9d3361d676ba7f33f8b2a4ed91c818\n" {
		t.Fatalf("hash-uri: %q", r.stdout)
	}
	r = cli(t, nil, "hash-uri", "  SIP:VW01@rtcdev.contoso.microsoft.com ", "sip:other@example.com").must(t)
	if !strings.HasPrefix(r.stdout, "ad9d3361d676ba7f33f8b2a4ed91c818  ") || !strings.Contains(r.stdout, layout.OrganizerHash("sip:other@example.com")+"  sip:other@example.com") {
		t.Fatalf("hash-uri of two: %q", r.stdout)
	}
}

// offlineWorld is a lecternd data dir holding conference "deck" with a slide set whose
// slide references an image, and a handout, written by the engine and flushed; the
// server is stopped so that the offline commands see a quiet store.
type offlineWorld struct {
	s       *server
	loc     layout.Conference
	image   conference.Stored
	handout conference.Stored
	env     map[string]string
}

func newOfflineWorld(t *testing.T) *offlineWorld {
	t.Helper()
	s := startServer(t, filepath.Join(t.TempDir(), "lectern-data"))
	cli(t, s.adminEnv(t), "conference", "create", "--id", "deck", "--organizer", "sip:alice@example.com").must(t)
	s.stop(t)
	w := &offlineWorld{s: s, env: map[string]string{"LECTERN_BACKEND": s.backendURL(), "LECTERN_KEK_FILE": s.kekFile()}}
	ctx := context.Background()
	e := engineOn(t, s)
	var err error
	img := randomBytes(t, 200_000)
	if w.image, err = e.StoreContent(ctx, "deck", conference.SlideContent, "png", bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	if w.handout, err = e.StoreContent(ctx, "deck", conference.HandoutContent, "", strings.NewReader("agenda"), 6); err != nil {
		t.Fatal(err)
	}
	set, err := e.CreateSlideSet(ctx, "deck", "Keynote", "sip:alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateSlideSet(ctx, "deck", set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "Opening"}, RichSlideType: metadata.RichSnapshot, Image: w.image.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddHandout(ctx, "deck", conference.HandoutParams{Blob: w.handout.Ref(), Size: 6, OriginalFilename: "agenda.txt"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	info := conference.Info{ID: "deck", OrgHash: layout.OrganizerHash("sip:alice@example.com")}
	w.loc = info.Location()
	return w
}

func (w *offlineWorld) bucket(t *testing.T) *storage.Bucket {
	t.Helper()
	b, err := backends.Open(context.Background(), w.s.backendURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestInspect(t *testing.T) {
	w := newOfflineWorld(t)
	r := cli(t, w.env, "inspect", w.loc.ConferenceFile()).must(t)
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), "<") || !strings.Contains(r.stdout, `id="deck"`) || !strings.Contains(r.stderr, "master key unwraps with this KEK") {
		t.Fatalf("conference.xml: %s / %s", r.stdout, r.stderr)
	}
	r = cli(t, w.env, "inspect", w.loc.MetadataPrefix()+"set-aaa.exml").must(t)
	set, err := metadata.UnmarshalSlideSet([]byte(r.stdout))
	if err != nil {
		t.Fatalf("the decrypted set does not parse: %v\n%s", err, r.stdout)
	}
	if set.Name != "Keynote" || len(set.Slides) != 1 || !strings.Contains(r.stderr, "primary copy of set-aaa, generation") {
		t.Fatalf("set: %+v / %s", set, r.stderr)
	}
	r = cli(t, w.env, "-o", "json", "inspect", w.loc.MetadataPrefix()+"set-s-aaa.exml", w.loc.MetadataPrefix()+"ft/fileset-aaa.exml").must(t)
	var got []inspected
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 {
		t.Fatalf("json: %v %s", err, r.stdout)
	}
	if !got[0].Backup || got[0].Document != "set-aaa" || got[1].Document != "fileset-aaa" || !strings.Contains(got[1].Data, "agenda.txt") {
		t.Fatalf("json: %+v", got)
	}

	// The journal keeps its newest record after a snapshot.
	b := w.bucket(t)
	var journal string
	for a, err := range b.List(context.Background(), w.loc.MetadataPrefix()+"journal/") {
		if err != nil {
			t.Fatal(err)
		}
		journal = a.Key
	}
	if journal == "" {
		t.Fatal("no journal record to inspect")
	}
	r = cli(t, w.env, "inspect", journal).must(t)
	if !regexp.MustCompile(`journal record \d+: put of (set|fileset)-aaa`).MatchString(r.stderr) {
		t.Fatalf("journal record: %s", r.stderr)
	}

	// Failures: a damaged file, a wrong KEK, a key outside a conference folder.
	key := w.loc.MetadataPrefix() + "set-aaa.exml"
	raw, _, _ := b.ReadAll(context.Background(), key)
	raw[len(raw)-1] ^= 1
	if _, err := b.PutBytes(context.Background(), key, raw, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, w.env, "inspect", key); r.code != exitError || !strings.Contains(r.stderr, "does not decrypt") {
		t.Fatalf("damaged: exit %d %s", r.code, r.stderr)
	}
	other := filepath.Join(t.TempDir(), "kek.hex")
	os.WriteFile(other, []byte(strings.Repeat("0f", 32)+"\n"), 0o600)
	env := map[string]string{"LECTERN_BACKEND": w.s.backendURL(), "LECTERN_KEK_FILE": other}
	if r := cli(t, env, "inspect", w.loc.ConferenceFile()); r.code != exitError || !strings.Contains(r.stderr, "does not unwrap") || strings.Contains(r.stderr, "0f0f") {
		t.Fatalf("wrong KEK: exit %d %s", r.code, r.stderr)
	}
	if r := cli(t, w.env, "inspect", "content/x/y"); r.code != exitUsage {
		t.Fatalf("not a metadata key: exit %d %s", r.code, r.stderr)
	}
}

func TestFsck(t *testing.T) {
	w := newOfflineWorld(t)
	r := cli(t, w.env, "fsck").must(t)
	if !strings.Contains(r.stdout, "checked 1 conference(s)") || !strings.Contains(r.stdout, "2 content file(s) (200006 bytes authenticated, in full): 0 error(s), 0 warning(s)") {
		t.Fatalf("clean fsck: %s", r.stdout)
	}
	cli(t, w.env, "fsck", "--quick", "--conference", "deck").must(t)

	// Damage: a corrupted primary, a missing handout blob and an orphan.
	ctx := context.Background()
	b := w.bucket(t)
	key := w.loc.MetadataPrefix() + "set-aaa.exml"
	raw, _, _ := b.ReadAll(ctx, key)
	raw[60] ^= 1
	b.PutBytes(ctx, key, raw, storage.Condition{})
	b.Delete(ctx, w.loc.ContentKey(w.handout.Name))
	orphan := w.loc.ContentKey("x" + strings.Repeat("ab", 16) + ".epdf")
	b.PutBytes(ctx, orphan, []byte("not even encrypted"), storage.Condition{})

	r = cli(t, w.env, "fsck")
	if r.code != exitProblems {
		t.Fatalf("damaged store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range [][]string{{"ERROR", "metadata_corrupt", "deck", key}, {"ERROR", "content_missing", "deck", w.loc.ContentKey(w.handout.Name)},
		{"WARNING", "orphan", "deck", orphan}, {"2 error(s), 1 warning(s)"}} {
		if !slices.ContainsFunc(strings.Split(r.stdout, "\n"), func(line string) bool {
			return slices.Equal(strings.Fields(line)[:min(len(want), len(strings.Fields(line)))], want) || len(want) == 1 && strings.Contains(line, want[0])
		}) {
			t.Errorf("fsck output lacks a line %q:\n%s", want, r.stdout)
		}
	}
	r = cli(t, w.env, "-o", "json", "fsck")
	var rep conference.FsckReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitProblems || len(rep.Problems) != 3 {
		t.Fatalf("json: exit %d %v %s", r.code, err, r.stdout)
	}
	if r := cli(t, w.env, "fsck", "--conference", "nope"); r.code != exitError || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("unknown conference: exit %d %s", r.code, r.stderr)
	}
}

func TestMigrate(t *testing.T) {
	w := newOfflineWorld(t)
	target := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "copy"))
	r := cli(t, nil, "migrate", "--from", w.s.backendURL(), "--to", target).must(t)
	src := w.bucket(t)
	var n int
	for range src.List(context.Background(), "") {
		n++
	}
	if n < 8 || !strings.Contains(r.stdout, "copied") || !strings.Contains(r.stdout, "0 already present") || !strings.Contains(r.stdout, "0 failed") {
		t.Fatalf("migrate (%d objects): %s", n, r.stdout)
	}
	// Every object is on the target with the same bytes.
	dst, err := backends.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for a, err := range src.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		x, _, _ := src.ReadAll(context.Background(), a.Key)
		y, _, err := dst.ReadAll(context.Background(), a.Key)
		if err != nil || !bytes.Equal(x, y) {
			t.Fatalf("%s differs on the target (%v)", a.Key, err)
		}
	}
	// The copy is a working store: fsck with the same KEK finds it clean.
	cli(t, map[string]string{"LECTERN_BACKEND": target, "LECTERN_KEK_FILE": w.s.kekFile()}, "fsck").must(t)

	// Again: everything is already there (resume), nothing copied.
	r = cli(t, nil, "-o", "json", "migrate", "--from", w.s.backendURL(), "--to", target).must(t)
	var sum migrateSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Copied != 0 || sum.Skipped != n || sum.Verified != n {
		t.Fatalf("second migrate: %+v %v", sum, err)
	}
	// A target object that differs is reported, left alone, and replaced with --overwrite.
	victim := w.loc.ContentKey(w.image.Name)
	dst.PutBytes(context.Background(), victim, []byte("tampered"), storage.Condition{})
	r = cli(t, nil, "migrate", "--from", w.s.backendURL(), "--to", target)
	if r.code != exitError || !strings.Contains(r.stdout, "FAILED "+victim) || !strings.Contains(r.stdout, "1 failed") {
		t.Fatalf("conflict: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if got, _, _ := dst.ReadAll(context.Background(), victim); string(got) != "tampered" {
		t.Fatal("a differing object was replaced without --overwrite")
	}
	r = cli(t, nil, "-o", "json", "migrate", "--overwrite", "--from", w.s.backendURL(), "--to", target).must(t)
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Copied != 1 || sum.Skipped != n-1 {
		t.Fatalf("overwrite: %+v %v", sum, err)
	}
	if r := cli(t, nil, "migrate", "--from", target, "--to", target); r.code != exitUsage {
		t.Fatalf("same storage: exit %d", r.code)
	}

	// A killed run's partial copy (a disk put's temporary file, no process holding its
	// lock) stays on the target through a plain run, and --remove-leftovers takes it.
	partial := filepath.Join(strings.TrimPrefix(target, "file://"), filepath.FromSlash(path.Dir(victim)), ".tmp-partial-copy")
	if err := os.WriteFile(partial, []byte("half an object"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(partial, old, old); err != nil {
		t.Fatal(err)
	}
	cli(t, nil, "migrate", "--from", w.s.backendURL(), "--to", target).must(t)
	if _, err := os.Stat(partial); err != nil {
		t.Fatalf("a plain run removed the target's temporary file: %v", err)
	}
	r = cli(t, nil, "-o", "json", "migrate", "--remove-leftovers", "--from", w.s.backendURL(), "--to", target).must(t)
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.LeftoversRemoved != 1 || sum.Skipped != n {
		t.Fatalf("--remove-leftovers: %+v %v", sum, err)
	}
	if _, err := os.Stat(partial); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the killed run's partial copy is still there: %v", err)
	}
}

// TestConformanceCommand runs the real binary: the suite runs inside it through
// testing.MainStart, which a test binary (itself a testing main) cannot host.
func TestConformanceCommand(t *testing.T) {
	bin := binary(t, "lectern")
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("conformance", "--backend", "file://"+filepath.ToSlash(dir), "--run", "keys|put", "-v")
	if err != nil {
		t.Fatalf("conformance on disk: %v\n%s", err, out)
	}
	for _, want := range []string{"--- PASS: TestConformance/keys", "--- PASS: TestConformance/put", "PASS"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "TestConformance/list") || strings.Contains(out, "TestConformance/concurrency") {
		t.Fatalf("--run did not select:\n%s", out)
	}
	// Each check cleaned up after itself.
	b, err := backends.Open(context.Background(), "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for a, err := range b.List(context.Background(), "") {
		t.Fatalf("left behind: %s %v", a.Key, err)
	}
	// A private memory store is new at every open, so the instance checks fail: the
	// command reports that with exit code 1 instead of passing.
	out, err = run("conformance", "--backend", "mem://", "--run", "instances")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitError || !strings.Contains(out, "FAIL") {
		t.Fatalf("mem:// instances: %v\n%s", err, out)
	}
	if out, err := run("conformance", "--backend", "file://"+filepath.ToSlash(dir), "--run", "no-such-check"); err == nil || !strings.Contains(out, "no check matched") {
		t.Fatalf("a --run matching nothing passed: %s", out)
	}
	if _, err := run("conformance", "--backend", "nope://x"); err == nil {
		t.Fatal("unknown scheme accepted")
	}
}

// After a KEK rotation the offline commands read the KEK's id from the kek-id file
// beside the KEK file: fsck opens the rewrapped conference with the new KEK, and
// without that file it reports the conference unreadable.
func TestFsckAfterKEKRotation(t *testing.T) {
	w := newOfflineWorld(t)
	oldKEK, err := readKEK(w.s.kekFile())
	if err != nil {
		t.Fatal(err)
	}
	var fresh [keywrap.KeySize]byte
	if _, err := rand.Read(fresh[:]); err != nil {
		t.Fatal(err)
	}
	e, err := conference.New(conference.Config{Bucket: w.bucket(t), KEK: fresh, KEKID: "kek-2", SnapshotInterval: -1,
		PreviousKEKs: map[string][keywrap.KeySize]byte{"kek-1": oldKEK}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := e.RewrapConferences(context.Background()); err != nil || len(rep.Rewrapped) != 1 {
		t.Fatalf("rewrap: %+v, %v", rep, err)
	}
	e.Close(context.Background())
	cfgDir := filepath.Dir(w.s.kekFile())
	if err := os.WriteFile(w.s.kekFile(), []byte(hex.EncodeToString(fresh[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "kek-id"), []byte("kek-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, w.env, "fsck").must(t); !strings.Contains(r.stdout, "checked 1 conference(s)") {
		t.Fatalf("fsck after the rotation: %s", r.stdout)
	}
	if err := os.Remove(filepath.Join(cfgDir, "kek-id")); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, w.env, "fsck"); r.code == 0 {
		t.Fatalf("fsck with the new KEK named kek-1 passed:\n%s", r.stdout)
	}
}
