package conference_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/keywrap"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
)

// fsckWorld is a conference with a slide set referencing a multi-segment image, a
// handout, and everything flushed to both copies.
type fsckWorld struct {
	b       *storage.Bucket
	kek     [32]byte
	e       *conference.Engine
	loc     layout.Conference
	image   conference.Stored // referenced by slide set aaa
	handout conference.Stored // the blob of handout aaa
}

const fsckConf = "fsck-conf"

func newFsckWorld(t *testing.T) *fsckWorld {
	t.Helper()
	ctx := context.Background()
	w := &fsckWorld{b: storage.NewBucket(memory.New(memory.NewStore()))}
	t.Cleanup(func() { w.b.Close() })
	if _, err := rand.Read(w.kek[:]); err != nil {
		t.Fatal(err)
	}
	w.e = w.engine(t, w.kek)
	info, err := w.e.CreateConference(ctx, conference.CreateParams{ID: fsckConf, Organizer: "sip:fsck@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	w.loc = info.Location()
	// Three segments and a bit, so that a segment in the middle exists.
	img := bytes.Repeat([]byte("lectern image bytes "), 10_000)
	if w.image, err = w.e.StoreContent(ctx, fsckConf, conference.SlideContent, "png", bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	if w.handout, err = w.e.StoreContent(ctx, fsckConf, conference.HandoutContent, "", strings.NewReader("handout"), 7); err != nil {
		t.Fatal(err)
	}
	set, err := w.e.CreateSlideSet(ctx, fsckConf, "Deck", "sip:fsck@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.UpdateSlideSet(ctx, fsckConf, set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "one"}, RichSlideType: metadata.RichSnapshot, Image: w.image.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.AddHandout(ctx, fsckConf, conference.HandoutParams{Blob: w.handout.Ref(), Size: 7, OriginalFilename: "notes.txt"}); err != nil {
		t.Fatal(err)
	}
	if err := w.e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *fsckWorld) engine(t *testing.T, kek [32]byte) *conference.Engine {
	t.Helper()
	e, err := conference.New(conference.Config{Bucket: w.b, KEK: kek, SnapshotInterval: -1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func (w *fsckWorld) meta(name string) string { return w.loc.MetadataPrefix() + name }

func (w *fsckWorld) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	for a, err := range w.b.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	return keys
}

func (w *fsckWorld) read(t *testing.T, key string) []byte {
	t.Helper()
	b, _, err := w.b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *fsckWorld) write(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := w.b.PutBytes(context.Background(), key, data, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
}

func (w *fsckWorld) flip(t *testing.T, key string, at int) {
	t.Helper()
	b := w.read(t, key)
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x40
	w.write(t, key, b)
}

// masterSealer opens the conference's metadata the way the engine does, from the KEK.
type masterSealer struct{ k encryption.Key }

func (s masterSealer) Seal(p []byte) ([]byte, error) { return encryption.Seal(s.k, p) }
func (s masterSealer) Open(c []byte) ([]byte, error) { return encryption.Open(s.k, c) }

func (w *fsckWorld) sealer(t *testing.T) masterSealer {
	t.Helper()
	doc, err := metadata.UnmarshalConference(w.read(t, w.loc.ConferenceFile()))
	if err != nil {
		t.Fatal(err)
	}
	k, err := keywrap.Unwrap(w.kek, doc.WrappedMasterKey, doc.KEKID, doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return masterSealer{encryption.Key(k)}
}

// rewriteSet changes slide set aaa behind the engine's back, through a Store of its
// own (the engine is closed first so that only one Store owns the folder).
func (w *fsckWorld) rewriteSet(t *testing.T, change func(*metadata.SlideSet)) {
	t.Helper()
	ctx := context.Background()
	if err := w.e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := metastore.Open(ctx, w.b, w.loc.MetadataPrefix(), w.sealer(t), metastore.Options{SnapshotInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	d := metastore.Doc{Kind: metastore.SlideSet, ID: "aaa"}
	data, err := s.Get(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	set, err := metadata.UnmarshalSlideSet(data)
	if err != nil {
		t.Fatal(err)
	}
	change(set)
	if data, err = set.Marshal(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, d, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	w.e = w.engine(t, w.kek)
}

// snapshotKeys records every key and version, to prove that fsck writes nothing.
func snapshotKeys(t *testing.T, b *storage.Bucket) []string {
	t.Helper()
	var out []string
	for a, err := range b.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a.Key+"@"+a.Version)
	}
	return out
}

type wantProblem struct {
	kind conference.ProblemKind
	key  string // suffix of the problem's key
	sev  conference.Severity
}

func runFsck(t *testing.T, w *fsckWorld, e *conference.Engine, conf string, opts conference.FsckOptions) conference.FsckReport {
	t.Helper()
	before := snapshotKeys(t, w.b)
	rep, err := e.Fsck(context.Background(), conf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshotKeys(t, w.b); !slices.Equal(before, after) {
		t.Fatalf("fsck changed the storage:\nbefore %v\nafter  %v", before, after)
	}
	return rep
}

func TestFsckClean(t *testing.T) {
	w := newFsckWorld(t)
	for _, quick := range []bool{false, true} {
		rep := runFsck(t, w, w.e, "", conference.FsckOptions{Quick: quick})
		if !rep.OK() || rep.Conferences != 1 || rep.ContentFiles != 2 || rep.MetadataFiles < 6 {
			t.Fatalf("quick=%v: a clean conference: %+v", quick, rep)
		}
		want := w.image.Size + w.handout.Size
		if quick {
			// The image's first segment and its final one, whole (docs/format.md: 64 KiB
			// segments, a 48-byte header, 16-byte tags); the handout is one segment.
			const firstCap, segCap = 65536 - 48 - 16, 65536 - 16
			want = firstCap + (w.image.Size-firstCap)%segCap + w.handout.Size
		}
		if rep.VerifiedBytes != want {
			t.Fatalf("quick=%v: verified %d bytes, want %d", quick, rep.VerifiedBytes, want)
		}
	}
	// A change acknowledged but not yet snapshotted is only in the journal: normal, and
	// its references count (the handout deleted there no longer needs its blob).
	ctx := context.Background()
	if _, err := w.e.DeleteHandout(ctx, fsckConf, "aaa"); err != nil {
		t.Fatal(err)
	}
	if rep := runFsck(t, w, w.e, fsckConf, conference.FsckOptions{}); !rep.OK() {
		t.Fatalf("journal-only change reported: %+v", rep.Problems)
	}
}

func TestFsckFindsDamage(t *testing.T) {
	tests := []struct {
		name   string
		quick  bool
		damage func(t *testing.T, w *fsckWorld)
		want   []wantProblem
	}{
		{"corrupted primary", false, func(t *testing.T, w *fsckWorld) { w.flip(t, w.meta("set-aaa.exml"), 60) },
			[]wantProblem{{conference.ProblemMetadataCorrupt, "/set-aaa.exml", conference.SeverityError}}},
		{"both copies corrupted", false, func(t *testing.T, w *fsckWorld) {
			w.flip(t, w.meta("set-aaa.exml"), 60)
			w.flip(t, w.meta("set-s-aaa.exml"), -1)
		}, []wantProblem{
			{conference.ProblemDocumentLost, "/set-aaa.exml", conference.SeverityError},
			{conference.ProblemMetadataCorrupt, "/set-aaa.exml", conference.SeverityError},
			{conference.ProblemMetadataCorrupt, "/set-s-aaa.exml", conference.SeverityError},
			// Nothing readable references the image any more.
			{conference.ProblemOrphan, ".epng", conference.SeverityWarning},
		}},
		{"missing backup", false, func(t *testing.T, w *fsckWorld) {
			if err := w.b.Delete(context.Background(), w.meta("ft/fileset-s-aaa.exml")); err != nil {
				t.Fatal(err)
			}
		}, []wantProblem{{conference.ProblemCopyMissing, "/ft/fileset-s-aaa.exml", conference.SeverityWarning}}},
		{"stale backup", false, func(t *testing.T, w *fsckWorld) {
			old := w.read(t, w.meta("set-s-aaa.exml"))
			if _, err := w.e.UpdateSlideSet(context.Background(), fsckConf, "aaa", func(s *metadata.SlideSet) error { s.Name = "Renamed"; return nil }); err != nil {
				t.Fatal(err)
			}
			if err := w.e.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			w.write(t, w.meta("set-s-aaa.exml"), old)
		}, []wantProblem{{conference.ProblemCopiesDiffer, "/set-aaa.exml", conference.SeverityWarning}}},
		{"missing content", false, func(t *testing.T, w *fsckWorld) {
			if err := w.b.Delete(context.Background(), w.loc.ContentKey(w.image.Name)); err != nil {
				t.Fatal(err)
			}
		}, []wantProblem{{conference.ProblemContentMissing, ".epng", conference.SeverityError}}},
		{"orphan", false, func(t *testing.T, w *fsckWorld) {
			if _, err := w.e.StoreContent(context.Background(), fsckConf, conference.SlideContent, "pdf", strings.NewReader("%PDF"), 4); err != nil {
				t.Fatal(err)
			}
		}, []wantProblem{{conference.ProblemOrphan, ".epdf", conference.SeverityWarning}}},
		{"wrong key in a reference", false, func(t *testing.T, w *fsckWorld) {
			other, err := encryption.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			w.rewriteSet(t, func(s *metadata.SlideSet) {
				s.Slides[0].(*metadata.ImageSlide).Image.Key = other.Hex()
			})
		}, []wantProblem{{conference.ProblemWrongKey, ".epng", conference.SeverityError}}},
		{"legacy 128-bit key in a reference", false, func(t *testing.T, w *fsckWorld) {
			w.rewriteSet(t, func(s *metadata.SlideSet) {
				img := &s.Slides[0].(*metadata.ImageSlide).Image
				img.Key = img.Key[:32]
			})
		}, []wantProblem{{conference.ProblemBadReference, ".epng", conference.SeverityError}}},
		{"damaged middle segment", false, func(t *testing.T, w *fsckWorld) {
			w.flip(t, w.loc.ContentKey(w.image.Name), encryption.DefaultSegmentSize+100)
		}, []wantProblem{{conference.ProblemContentCorrupt, ".epng", conference.SeverityError}}},
		{"damaged middle segment, quick check", true, func(t *testing.T, w *fsckWorld) {
			w.flip(t, w.loc.ContentKey(w.image.Name), encryption.DefaultSegmentSize+100)
		}, nil}, // quick reads the first and final segments only, by design
		{"truncated content, quick check", true, func(t *testing.T, w *fsckWorld) {
			key := w.loc.ContentKey(w.image.Name)
			b := w.read(t, key)
			w.write(t, key, b[:2*encryption.DefaultSegmentSize])
		}, []wantProblem{{conference.ProblemContentCorrupt, ".epng", conference.SeverityError}}},
		{"damaged journal record", false, func(t *testing.T, w *fsckWorld) {
			if _, err := w.e.UpdateSlideSet(context.Background(), fsckConf, "aaa", func(s *metadata.SlideSet) error { s.Name = "Journaled"; return nil }); err != nil {
				t.Fatal(err)
			}
			var newest string
			for a, err := range w.b.List(context.Background(), w.meta(metastore.JournalPrefix)) {
				if err != nil {
					t.Fatal(err)
				}
				newest = a.Key
			}
			w.flip(t, newest, -3)
		}, []wantProblem{{conference.ProblemMetadataCorrupt, "", conference.SeverityError}}},
		{"oversized journal record", false, func(t *testing.T, w *fsckWorld) {
			if _, err := w.e.UpdateSlideSet(context.Background(), fsckConf, "aaa", func(s *metadata.SlideSet) error { s.Name = "Journaled"; return nil }); err != nil {
				t.Fatal(err)
			}
			keys := w.keys(t, w.meta(metastore.JournalPrefix))
			w.write(t, keys[len(keys)-1], make([]byte, metastore.MaxFileSize+1))
		}, []wantProblem{{conference.ProblemMetadataCorrupt, "", conference.SeverityError}}},
		{"oversized conference.xml", false, func(t *testing.T, w *fsckWorld) {
			w.write(t, w.loc.ConferenceFile(), make([]byte, metadata.MaxConferenceSize+1))
		}, []wantProblem{{conference.ProblemConference, "/conference.xml", conference.SeverityError}}},
		{"stray file", false, func(t *testing.T, w *fsckWorld) { w.write(t, w.meta("notes.txt"), []byte("hi")) },
			[]wantProblem{{conference.ProblemStrayFile, "/notes.txt", conference.SeverityWarning}}},
		{"unindexed folders", false, func(t *testing.T, w *fsckWorld) {
			if err := w.b.Delete(context.Background(), layout.IndexKey(fsckConf)); err != nil {
				t.Fatal(err)
			}
		}, []wantProblem{
			{conference.ProblemUnindexed, "/" + fsckConf + "/", conference.SeverityWarning},
			{conference.ProblemUnindexed, "/" + fsckConf + "/", conference.SeverityWarning},
		}},
		{"upload folder of no conference", false, func(t *testing.T, w *fsckWorld) {
			w.write(t, layout.UploadRoot+"/gone-conf/part-0", []byte("part"))
			w.write(t, layout.UploadRoot+"/"+fsckConf+"/part-0", []byte("part")) // indexed: fine
		}, []wantProblem{{conference.ProblemUnindexed, layout.UploadRoot + "/gone-conf/", conference.SeverityWarning}}},
		{"unfinished delete", false, func(t *testing.T, w *fsckWorld) {
			w.write(t, w.loc.DeletingMarker(), []byte("2026-11-22T12:00:00Z"))
			if err := w.b.Delete(context.Background(), w.loc.ConferenceFile()); err != nil {
				t.Fatal(err)
			}
		}, []wantProblem{{conference.ProblemUnfinished, "/deleting", conference.SeverityWarning}}},
		{"the index entry alone", false, func(t *testing.T, w *fsckWorld) {
			for _, prefix := range []string{w.loc.MetadataPrefix(), w.loc.ContentPrefix()} {
				for _, key := range w.keys(t, prefix) {
					if err := w.b.Delete(context.Background(), key); err != nil {
						t.Fatal(err)
					}
				}
			}
		}, []wantProblem{{conference.ProblemUnfinished, layout.IndexKey(fsckConf), conference.SeverityWarning}}},
		{"a delete under way: its marker beside conference.xml", false, func(t *testing.T, w *fsckWorld) {
			w.write(t, w.loc.DeletingMarker(), []byte("2026-11-22T12:00:00Z"))
		}, nil},
		{"conference.xml lost, the files there", false, func(t *testing.T, w *fsckWorld) {
			if err := w.b.Delete(context.Background(), w.loc.ConferenceFile()); err != nil {
				t.Fatal(err)
			}
		}, []wantProblem{{conference.ProblemConference, "/conference.xml", conference.SeverityError}}},
		{"index entry with an invalid id", false, func(t *testing.T, w *fsckWorld) {
			w.write(t, layout.IndexRoot+"/Not_An_Id", []byte(w.loc.OrgHash))
		}, []wantProblem{{conference.ProblemIndex, "/Not_An_Id", conference.SeverityError}}},
		{"damaged index entry", false, func(t *testing.T, w *fsckWorld) {
			w.write(t, layout.IndexKey(fsckConf), []byte("../../etc"))
		}, []wantProblem{
			{conference.ProblemIndex, layout.IndexKey(fsckConf), conference.SeverityError},
			{conference.ProblemUnindexed, "/" + fsckConf + "/", conference.SeverityWarning},
			{conference.ProblemUnindexed, "/" + fsckConf + "/", conference.SeverityWarning},
		}},
		{"oversized index entry", false, func(t *testing.T, w *fsckWorld) {
			w.write(t, layout.IndexKey(fsckConf), bytes.Repeat([]byte(w.loc.OrgHash), 1<<10))
		}, []wantProblem{
			{conference.ProblemIndex, layout.IndexKey(fsckConf), conference.SeverityError},
			{conference.ProblemUnindexed, "/" + fsckConf + "/", conference.SeverityWarning},
			{conference.ProblemUnindexed, "/" + fsckConf + "/", conference.SeverityWarning},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFsckWorld(t)
			tc.damage(t, w)
			rep := runFsck(t, w, w.e, "", conference.FsckOptions{Quick: tc.quick})
			checkProblems(t, rep, tc.want)
		})
	}
}

func checkProblems(t *testing.T, rep conference.FsckReport, want []wantProblem) {
	t.Helper()
	got := rep.Problems
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d: %+v", len(got), len(want), got)
	}
	remaining := slices.Clone(got)
	for _, wp := range want {
		suffix := wp.key
		i := slices.IndexFunc(remaining, func(p conference.Problem) bool {
			return p.Kind == wp.kind && p.Severity == wp.sev && strings.HasSuffix(p.Key, suffix)
		})
		if i < 0 {
			t.Fatalf("no %s problem (%s) on …%s in %+v", wp.kind, wp.sev, suffix, got)
		}
		if p := remaining[i]; p.Detail == "" || (p.Kind != conference.ProblemUnindexed && p.Kind != conference.ProblemIndex && p.Conference != fsckConf) {
			t.Errorf("problem without detail or conference: %+v", p)
		}
		remaining = slices.Delete(remaining, i, i+1)
	}
	if rep.OK() != (len(want) == 0) {
		t.Fatalf("OK() is %v with %d problems", rep.OK(), len(got))
	}
}

func TestFsckWrongKEK(t *testing.T) {
	w := newFsckWorld(t)
	var other [32]byte
	if _, err := rand.Read(other[:]); err != nil {
		t.Fatal(err)
	}
	rep := runFsck(t, w, w.engine(t, other), fsckConf, conference.FsckOptions{})
	checkProblems(t, rep, []wantProblem{{conference.ProblemConference, "/conference.xml", conference.SeverityError}})
	if d := rep.Problems[0].Detail; strings.Contains(d, w.sealer(t).k.Hex()) || strings.Contains(d, hex.EncodeToString(w.kek[:])) {
		t.Fatal("detail leaks a key")
	}
}

func TestFsckUnknownConference(t *testing.T) {
	w := newFsckWorld(t)
	for _, id := range []string{"nope", "../x"} {
		if _, err := w.e.Fsck(context.Background(), id, conference.FsckOptions{}); err == nil {
			t.Fatalf("%q: want an error", id)
		}
	}
	_, err := w.e.Fsck(context.Background(), "nope", conference.FsckOptions{})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown conference: %v", err)
	}
	_, err = w.e.Fsck(context.Background(), "../x", conference.FsckOptions{})
	if !errors.Is(err, conference.ErrInvalidInput) {
		t.Fatalf("invalid id: %v", err)
	}
}
