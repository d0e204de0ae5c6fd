package metastore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/metastore/metastoretest"
	"github.com/lectern/lectern/core/storage"
)

// inspectFixture writes, through a real Store, a snapshotted set (aaa), a set whose
// newest change is still only in the journal (aab), and a handout; it returns every
// file of the folder.
func inspectFixture(t *testing.T) (*metastoretest.Sealer, map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	sealer, err := metastoretest.NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := storage.NewBucket(memory.New(memory.NewStore()))
	t.Cleanup(func() { b.Close() })
	s, err := metastore.Open(ctx, b, "m/", sealer, metastore.Options{SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []metastore.Kind{metastore.SlideSet, metastore.SlideSet, metastore.Handout} {
		id, err := s.NextID(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, metastore.Doc{Kind: kind, ID: id}, []byte(kind.String()+" "+id+" v1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, metastore.Doc{Kind: metastore.SlideSet, ID: "aab"}, []byte("set aab v2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, metastore.Doc{Kind: metastore.SlideSet, ID: "aaa"}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for a, err := range b.List(ctx, "m/") {
		if err != nil {
			t.Fatal(err)
		}
		data, _, err := b.ReadAll(ctx, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		files[a.Key[len("m/"):]] = data
	}
	// No Close: it would snapshot and trim the journal records looked at below.
	return sealer, files
}

func TestOpenFileReadsEveryFileOfAStore(t *testing.T) {
	sealer, files := inspectFixture(t)
	set := func(id string) metastore.Doc { return metastore.Doc{Kind: metastore.SlideSet, ID: id} }
	handout := metastore.Doc{Kind: metastore.Handout, ID: "aaa"}
	want := map[string]struct {
		kind   metastore.FileKind
		doc    metastore.Doc
		backup bool
		data   string
		del    bool
	}{
		"set-aaa.exml":          {metastore.SnapshotFile, set("aaa"), false, "set aaa v1", false},
		"set-s-aaa.exml":        {metastore.SnapshotFile, set("aaa"), true, "set aaa v1", false},
		"set-aab.exml":          {metastore.SnapshotFile, set("aab"), false, "set aab v1", false},
		"set-s-aab.exml":        {metastore.SnapshotFile, set("aab"), true, "set aab v1", false},
		"ft/fileset-aaa.exml":   {metastore.SnapshotFile, handout, false, "fileset aaa v1", false},
		"ft/fileset-s-aaa.exml": {metastore.SnapshotFile, handout, true, "fileset aaa v1", false},
		"SSMaxId":               {metastore.IDFile, metastore.Doc{}, false, "aab", false},
		"ft/FTMaxID":            {metastore.IDFile, metastore.Doc{}, false, "aaa", false},
	}
	var journal []metastore.File
	for key, sealed := range files {
		f, err := metastore.OpenFile(sealer, key, sealed)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if f.Kind == metastore.JournalFile {
			journal = append(journal, f)
			continue
		}
		w, ok := want[key]
		if !ok {
			t.Fatalf("unexpected file %s (%v)", key, f.Kind)
		}
		delete(want, key)
		if f.Kind != w.kind || f.Doc != w.doc || f.Backup != w.backup || string(f.Data) != w.data {
			t.Errorf("%s: got kind %v doc %v backup %v data %q", key, f.Kind, f.Doc, f.Backup, f.Data)
		}
	}
	for key := range want {
		t.Errorf("%s missing from the folder", key)
	}
	// The two changes after the snapshot are in the journal, newer than the copies.
	var sawPut, sawDelete bool
	for _, f := range journal {
		switch {
		case f.Doc == set("aab") && !f.Deleted && string(f.Data) == "set aab v2":
			sawPut = true
		case f.Doc == set("aaa") && f.Deleted:
			sawDelete = true
		}
		if f.Generation != f.Seq || f.Generation == 0 {
			t.Errorf("journal record %d has generation %d", f.Seq, f.Generation)
		}
	}
	if !sawPut || !sawDelete {
		t.Fatalf("journal records not decoded: put %v delete %v (%d records)", sawPut, sawDelete, len(journal))
	}
	p, _ := metastore.OpenFile(sealer, "set-aab.exml", files["set-aab.exml"])
	for _, f := range journal {
		if f.Doc == set("aab") && f.Generation <= p.Generation {
			t.Errorf("journal record %d is not newer than the snapshot (generation %d)", f.Generation, p.Generation)
		}
	}
}

func TestOpenFileRefusesDamage(t *testing.T) {
	sealer, files := inspectFixture(t)
	var journalKey, otherJournalKey string
	for key := range files {
		if fn, ok := metastore.ParseFileName(key); ok && fn.Kind == metastore.JournalFile {
			if journalKey == "" {
				journalKey = key
			} else {
				otherJournalKey = key
			}
		}
	}
	if otherJournalKey == "" {
		t.Fatal("fixture should leave two journal records")
	}
	flipped := bytes.Clone(files["set-aab.exml"])
	flipped[len(flipped)/2] ^= 1
	foreign, err := metastoretest.NewSealer(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key string
		data      []byte
		want      error
	}{
		{"flipped byte", "set-aab.exml", flipped, metastore.ErrCorrupt},
		{"truncated", "set-aab.exml", files["set-aab.exml"][:20], metastore.ErrCorrupt},
		{"another document's copy", "set-aab.exml", files["set-aaa.exml"], metastore.ErrCorrupt},
		{"a handout copied over a set", "set-aaa.exml", files["ft/fileset-aaa.exml"], metastore.ErrCorrupt},
		{"a journal record as a snapshot", "set-aab.exml", files[journalKey], metastore.ErrCorrupt},
		{"a record under another sequence number", otherJournalKey, files[journalKey], metastore.ErrCorrupt},
		{"an id file as a snapshot", "set-aaa.exml", files["SSMaxId"], metastore.ErrCorrupt},
		{"another counter", "ft/FTMaxID", files["SSMaxId"], metastore.ErrCorrupt},
		{"not a metastore file", "conference.xml", files["SSMaxId"], metastore.ErrInvalidDoc},
		{"bad id in the name", "set-a1.exml", files["set-aaa.exml"], metastore.ErrInvalidDoc},
		{"short journal name", "journal/12", files[journalKey], metastore.ErrInvalidDoc},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := metastore.OpenFile(sealer, tc.key, tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		_, err := metastore.OpenFile(foreign, "set-aab.exml", files["set-aab.exml"])
		var ce *metastore.CorruptError
		if !errors.As(err, &ce) || ce.Key != "set-aab.exml" {
			t.Fatalf("got %v, want a CorruptError for set-aab.exml", err)
		}
	})
}

func TestParseFileName(t *testing.T) {
	tests := []struct {
		key  string
		ok   bool
		kind metastore.FileKind
	}{
		{"set-aaa.exml", true, metastore.SnapshotFile},
		{"set-s-zzz.exml", true, metastore.SnapshotFile},
		{"ft/fileset-s-aab.exml", true, metastore.SnapshotFile},
		{"journal/00000000000000000007", true, metastore.JournalFile},
		{"SSMaxId", true, metastore.IDFile},
		{"ft/FTMaxID", true, metastore.IDFile},
		{"ids/set-aac", true, metastore.IDFile},
		{"ids/fileset-aab", true, metastore.IDFile},
		{"conference.xml", false, 0},
		{"journal/7", false, 0},
		{"journal/0000000000000000000x", false, 0},
		{"set-aaa.xml", false, 0},
		{"ids/set-", false, 0},
		{"", false, 0},
	}
	for _, tc := range tests {
		fn, ok := metastore.ParseFileName(tc.key)
		if ok != tc.ok || fn.Kind != tc.kind {
			t.Errorf("%q: got %v %v, want %v %v", tc.key, fn.Kind, ok, tc.kind, tc.ok)
		}
	}
}
