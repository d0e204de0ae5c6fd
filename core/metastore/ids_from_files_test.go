package metastore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/metastore/metastoretest"
)

// TestFirstIDAfterDocumentsKnownOnlyFromTheirFiles: a folder whose documents are
// known only from their snapshot files (copied from elsewhere, or restored without
// its journal and id file) must hand out the id after the highest one. Handing out
// the highest itself would make the "new" document's put replace an existing one.
func TestFirstIDAfterDocumentsKnownOnlyFromTheirFiles(t *testing.T) {
	for _, kind := range metastore.Kinds {
		for _, ids := range [][]string{{"aaa"}, {"aaa", "aab", "aac"}, {"aab", "aaz"}} {
			t.Run(fmt.Sprintf("%v/%v", kind, ids), func(t *testing.T) {
				ctx := t.Context()
				env := metastoretest.NewEnv(t, memoryHarness())
				s := env.Store(t, metastore.Options{})
				var keep []string
				for _, id := range ids {
					d := metastore.Doc{Kind: kind, ID: id}
					if err := s.Put(ctx, d, []byte(id)); err != nil {
						t.Fatal(err)
					}
					keep = append(keep, d.PrimaryKey(), d.BackupKey())
				}
				if err := s.Close(ctx); err != nil { // writes the snapshot files
					t.Fatal(err)
				}
				for _, k := range env.Keys(t, "") {
					if !slices.Contains(keep, k) {
						env.RemoveRaw(t, k)
					}
				}
				s2 := env.Store(t, metastore.Options{})
				t.Cleanup(func() { s2.Close(context.Background()) })
				n, _ := metastore.ParseID(ids[len(ids)-1])
				want := metastore.FormatID(n + 1)
				if got, err := s2.NextID(ctx, kind); err != nil || got != want {
					t.Fatalf("NextID = %q, %v; want %q (%s is in use)", got, err, want, ids[len(ids)-1])
				}
			})
		}
	}
}

// TestParseIDRefusesCharactersOutsideAToZ: ids are file name parts; one with a
// character above 'z' ('{', '|', '}', '~': '~' is a valid storage key character)
// must not parse, or a planted set-aa~.exml would count as a document with a number
// past the id space's order and move the id counter.
func TestParseIDRefusesCharactersOutsideAToZ(t *testing.T) {
	for _, bad := range []string{"aa~", "aa{", "a|a", "}aa", "aa`", "zz~", "aaa~"} {
		if n, ok := metastore.ParseID(bad); ok {
			t.Errorf("ParseID(%q) = %d, accepted", bad, n)
		}
	}
}
