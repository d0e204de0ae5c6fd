package conference_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// unavailableGets fails every Get of one key as an unreachable store would.
type unavailableGets struct {
	storage.Driver
	key string
}

func (d unavailableGets) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if key == d.key {
		return nil, storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "get", key, nil)
	}
	return d.Driver.Get(ctx, key, offset, length)
}

// ListConferences reads the conferences in parallel; what it answers must not
// depend on that: id order, damaged ones skipped and named in the log, a create cut
// short skipped silently, and an unreachable store or an ended request failing the
// whole listing rather than answering part of it.
func TestListConferences(t *testing.T) {
	mem := memory.NewStore()
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		t.Fatal(err)
	}
	newEngine := func(t *testing.T, d storage.Driver, log io.Writer) *conference.Engine {
		t.Helper()
		e, err := conference.New(conference.Config{Bucket: storage.NewBucket(d), KEK: kek, SnapshotInterval: -1,
			Logger: slog.New(slog.NewTextHandler(log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		return e
	}
	const n = 60 // several times the listing's parallel reads
	creator := newEngine(t, memory.New(mem), io.Discard)
	var want []string
	locs := map[string]layout.Conference{}
	for i := range n {
		id := fmt.Sprintf("conf-%02d", n-1-i) // created out of id order
		info, err := creator.CreateConference(t.Context(), conference.CreateParams{ID: id, Organizer: fmt.Sprintf("sip:o%d@example.com", i%7)})
		if err != nil {
			t.Fatal(err)
		}
		locs[id] = layout.Conference{OrgHash: info.OrgHash, ID: id}
		want = append(want, id)
	}
	slices.Sort(want)
	const damaged, headless = "conf-23", "conf-zz"
	bucket := storage.NewBucket(memory.New(mem))
	if _, err := bucket.Put(t.Context(), locs[damaged].ConferenceFile(), strings.NewReader("not a conference"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	headlessEntry := []byte(locs["conf-00"].OrgHash) // an index entry whose conference.xml was never written
	if _, err := bucket.Put(t.Context(), layout.IndexKey(headless), bytes.NewReader(headlessEntry), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(id string) bool { return id == damaged })

	t.Run("order, damaged and headless", func(t *testing.T) {
		var log bytes.Buffer // slog serialises its writes; read once the listing is done
		list, err := newEngine(t, memory.New(mem), &log).ListConferences(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, info := range list {
			got = append(got, info.ID)
			if info.OrgHash != locs[info.ID].OrgHash {
				t.Errorf("%s: organizer hash %q, want %q", info.ID, info.OrgHash, locs[info.ID].OrgHash)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("listed %v,\nwant %v", got, want)
		}
		if logged := log.String(); !strings.Contains(logged, "conference="+damaged) || strings.Contains(logged, "conference="+headless) {
			t.Fatalf("want a warning naming %s and none naming %s; log:\n%s", damaged, headless, logged)
		}
	})
	t.Run("unreachable store", func(t *testing.T) {
		d := unavailableGets{Driver: memory.New(mem), key: locs["conf-41"].ConferenceFile()}
		var log bytes.Buffer // slog serialises its writes; read once the listing is done
		list, err := newEngine(t, d, &log).ListConferences(t.Context())
		if !errors.Is(err, storage.ErrUnavailable) || list != nil {
			t.Fatalf("got %d conferences, %v; want ErrUnavailable and none", len(list), err)
		}
		if strings.Contains(log.String(), "conference=conf-41") {
			t.Fatalf("an unreachable store was logged as a damaged conference:\n%s", log.String())
		}
	})
	t.Run("ended request", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var log bytes.Buffer // slog serialises its writes; read once the listing is done
		list, err := newEngine(t, memory.New(mem), &log).ListConferences(ctx)
		if !errors.Is(err, context.Canceled) || list != nil {
			t.Fatalf("got %d conferences, %v; want context.Canceled and none", len(list), err)
		}
		if log.String() != "" {
			t.Fatalf("an ended request logged:\n%s", log.String())
		}
	})
}
