package conference_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// quotaEngine is an engine on the memory backend with a 1500-byte handout quota.
func quotaEngine(t *testing.T, driver storage.Driver) *conference.Engine {
	t.Helper()
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		t.Fatal(err)
	}
	if driver == nil {
		driver = memory.New(memory.NewStore())
	}
	e, err := conference.New(conference.Config{Bucket: storage.NewBucket(driver), KEK: kek, SnapshotInterval: -1,
		Logger: slog.New(slog.DiscardHandler),
		Limits: conference.Limits{MaxContentFile: 1000, MaxHandoutFile: 1000, MaxConferenceContent: 1500,
			MaxConferenceHandouts: 1500, MaxContentFiles: 100, MaxHandoutFiles: 100}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	if _, err := e.CreateConference(t.Context(), conference.CreateParams{ID: "quota", Organizer: "sip:q@example.com"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func storeHandoutBlob(t *testing.T, e *conference.Engine) (conference.Stored, error) {
	t.Helper()
	return e.StoreContent(t.Context(), "quota", conference.HandoutContent, "", bytes.NewReader(make([]byte, 1000)), 1000)
}

// The handout quota is given back by what the blob occupies, never by a size the
// client stated: a handout recorded with a made-up size and deleted must neither
// leak quota nor hand out quota that was never taken.
func TestHandoutQuotaFollowsTheBlob(t *testing.T) {
	tests := []struct {
		name       string
		statedSize int64
		wantAdd    error // nil: added
	}{
		{"true size", 1000, nil},
		{"size left out", 0, nil},
		{"size overstated", 1 << 40, conference.ErrInvalidInput},
		{"size understated", 1, conference.ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := quotaEngine(t, nil)
			ctx := t.Context()
			blob, err := storeHandoutBlob(t, e)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := e.AddHandout(ctx, "quota", conference.HandoutParams{Blob: blob.Ref(), Size: tt.statedSize, OriginalFilename: "a.bin"})
			if tt.wantAdd != nil {
				if !errors.Is(err, tt.wantAdd) {
					t.Fatalf("AddHandout with size %d: %v, want %v", tt.statedSize, err, tt.wantAdd)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fs.Size != 1000 {
				t.Fatalf("handout recorded with size %d, want the blob's 1000", fs.Size)
			}
			if _, err := e.DeleteHandout(ctx, "quota", fs.ID); err != nil {
				t.Fatal(err)
			}
			// 1000 bytes fit in the emptied 1500-byte quota; a second 1000 do not.
			if _, err := storeHandoutBlob(t, e); err != nil {
				t.Fatalf("store after the delete gave the quota back: %v", err)
			}
			if _, err := storeHandoutBlob(t, e); !errors.Is(err, conference.ErrLimit) {
				t.Fatalf("2000 bytes stored under a 1500-byte quota: %v", err)
			}
		})
	}
}

// One blob backs at most one live handout: a second handout on it is refused (its
// deletion would delete the blob under the first), and deleting the one handout gives
// the blob's bytes back once.
func TestHandoutSharedBlobRefused(t *testing.T) {
	e := quotaEngine(t, nil)
	ctx := t.Context()
	blob, err := storeHandoutBlob(t, e)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := e.AddHandout(ctx, "quota", conference.HandoutParams{Blob: blob.Ref(), Size: blob.Size, OriginalFilename: "a.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddHandout(ctx, "quota", conference.HandoutParams{Blob: blob.Ref(), Size: blob.Size, OriginalFilename: "b.bin"}); !errors.Is(err, conference.ErrInUse) {
		t.Fatalf("a second handout on one blob: %v, want ErrInUse", err)
	}
	if _, err := e.DeleteHandout(ctx, "quota", fs.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DeleteHandout(ctx, "quota", fs.ID); err != nil {
		t.Fatal(err) // deleting again is a no-op, and must not give the bytes back twice
	}
	if _, err := storeHandoutBlob(t, e); err != nil {
		t.Fatal(err)
	}
	if _, err := storeHandoutBlob(t, e); !errors.Is(err, conference.ErrLimit) {
		t.Fatalf("2000 bytes stored under a 1500-byte quota after a blob was released: %v", err)
	}
}

// refusingPut is a backend that refuses content puts at once, the way a server that
// answers before reading the body does, but only once the source is being read.
type refusingPut struct {
	storage.Driver
	reading <-chan struct{}
}

func (d refusingPut) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if !strings.HasPrefix(key, layout.ContentRoot+"/") {
		return d.Driver.Put(ctx, key, r, opts)
	}
	// Whatever comes before the source's bytes (the header) is taken, so that the
	// writer gets to read the source; the drain ends when the pipe is closed.
	go func() { _, _ = io.Copy(io.Discard, r) }()
	<-d.reading
	return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, nil)
}

// heldReader signals its first Read and holds it until released, then yields n bytes.
type heldReader struct {
	once    sync.Once
	reading chan struct{}
	release chan struct{}
	n       int
}

func (h *heldReader) Read(p []byte) (int, error) {
	h.once.Do(func() { close(h.reading) })
	<-h.release
	if h.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), h.n)
	h.n -= k
	return k, nil
}

// A store whose put fails early must not return while the encrypter still reads the
// caller's reader: the caller owns it again, and bytes read afterwards were taken
// from the quota after the failure had given the quota back (a leak, and a data race
// on the count).
//
// It runs in a synctest bubble: synctest.Wait returns once every other goroutine
// is blocked for good, so "has StoreContent returned?" is asked at the one moment
// when the answer can no longer change, without a timed window.
func TestStoreContentFailedPutStopsReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &heldReader{reading: make(chan struct{}), release: make(chan struct{}), n: 1000}
		e := quotaEngine(t, refusingPut{Driver: memory.New(memory.NewStore()), reading: src.reading})
		result := make(chan error, 1)
		go func() {
			_, err := e.StoreContent(t.Context(), "quota", conference.SlideContent, "png", src, -1)
			result <- err
		}()
		<-src.reading
		synctest.Wait()
		select {
		case err := <-result:
			close(src.release) // so that the bubble can end
			t.Fatalf("StoreContent returned (%v) while its reader was still being read", err)
		default:
		}
		close(src.release)
		if err := <-result; !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("store on a refusing backend: %v, want ErrUnavailable", err)
		}
		// All 1500 bytes of the quota are free again.
		if err := e.CheckUpload(t.Context(), "quota", conference.SlideContent, 1000); err != nil {
			t.Fatal(err)
		}
	})
}

// heldList holds the first listing under prefix until released.
type heldList struct {
	storage.Driver
	prefix  string
	first   *atomic.Bool // a sync.Once would hold the other listings too
	entered chan struct{}
	release chan struct{}
}

func (d heldList) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	if strings.HasPrefix(prefix, d.prefix) {
		if d.first.CompareAndSwap(false, true) {
			close(d.entered)
			select {
			case <-d.release:
			case <-ctx.Done(): // as a backend does that honours its context
				return func(yield func(storage.Attributes, error) bool) { yield(storage.Attributes{}, ctx.Err()) }
			}
		}
	}
	return d.Driver.List(ctx, prefix)
}

// A conference deleted while another request was opening it must stay deleted: the
// open must not put it back among the open conferences (where it would answer for a
// conference that no longer exists, and a new conference of the same id would be
// written with the old one's master key).
func TestDeleteWhileOpening(t *testing.T) {
	// In a bubble, synctest.Wait returns once every other goroutine is blocked, so the
	// delete is seen waiting for the open (or not) without a time window.
	synctest.Test(t, func(t *testing.T) {
		held := heldList{Driver: memory.New(memory.NewStore()), prefix: layout.ContentRoot + "/", first: &atomic.Bool{},
			entered: make(chan struct{}), release: make(chan struct{})}
		e := quotaEngine(t, held) // creates "quota"; nothing opens it yet
		opened := make(chan error, 1)
		go func() {
			_, err := e.GetConference(t.Context(), "quota")
			opened <- err
		}()
		<-held.entered // the open is measuring the conference's usage
		deleted := make(chan error, 1)
		go func() { deleted <- e.DeleteConference(t.Context(), "quota") }()
		synctest.Wait()
		select {
		case err := <-deleted:
			close(held.release) // so that the bubble can end
			t.Fatalf("the delete ended (%v) while an open of the conference was under way", err)
		default:
		}
		close(held.release)
		if err := <-deleted; err != nil {
			t.Fatal(err)
		}
		if err := <-opened; !errors.Is(err, conference.ErrNotFound) {
			t.Errorf("open that raced a delete: %v, want ErrNotFound", err)
		}
		if info, err := e.GetConference(t.Context(), "quota"); !errors.Is(err, conference.ErrNotFound) {
			t.Fatalf("deleted conference still answers: %+v, %v", info, err)
		}
	})
}

// StoreEncrypted charges the quota by the stated plaintext size, so the ciphertext
// must be exactly that size's, and a negative size is the caller's mistake.
func TestStoreEncryptedSizeMustMatch(t *testing.T) {
	key, err := encryption.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	var ct bytes.Buffer
	w, err := encryption.NewWriter(&ct, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 900)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		ciphertext []byte
		plainSize  int64
		want       error
	}{
		{"negative size", ct.Bytes(), -5, conference.ErrInvalidInput},
		{"ciphertext longer than stated", ct.Bytes(), 100, conference.ErrInvalidInput},
		{"ciphertext shorter than stated", ct.Bytes()[:ct.Len()-10], 900, conference.ErrInvalidInput},
		{"exact", ct.Bytes(), 900, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := quotaEngine(t, nil)
			name, err := conference.NewContentName(conference.SlideContent, "bin")
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.StoreEncrypted(t.Context(), "quota", conference.SlideContent, name, key, bytes.NewReader(tt.ciphertext), tt.plainSize)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("StoreEncrypted: %v, want %v", err, tt.want)
			}
			list, err := e.ListContent(t.Context(), "quota")
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && len(list) != 0 {
				t.Fatalf("a refused store left %+v", list)
			}
		})
	}
}

// Concurrent first uses of a conference share one open; a caller that gives up must
// not fail the others, and gets its own context's error at once.
// In a synctest bubble, synctest.Wait makes sure the second caller has joined the
// shared open (it is blocked waiting for it) before the first gives up.
func TestSharedOpenSurvivesAGivingUpCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		held := heldList{Driver: memory.New(memory.NewStore()), prefix: layout.ContentRoot + "/", first: &atomic.Bool{},
			entered: make(chan struct{}), release: make(chan struct{})}
		e := quotaEngine(t, held)
		impatient, cancel := context.WithCancel(t.Context())
		first := make(chan error, 1)
		go func() {
			_, err := e.GetConference(impatient, "quota")
			first <- err
		}()
		<-held.entered // the shared open is under way
		second := make(chan error, 1)
		go func() {
			_, err := e.GetConference(t.Context(), "quota")
			second <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Errorf("caller that gave up: %v, want context.Canceled", err)
		}
		close(held.release)
		if err := <-second; err != nil {
			t.Fatalf("caller that waited on a shared open failed with the other's cancellation: %v", err)
		}
	})
}

// countingPuts counts puts under the metadata root.
type countingPuts struct {
	storage.Driver
	n *atomic.Int64
}

func (d countingPuts) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if strings.HasPrefix(key, layout.MetadataRoot+"/") {
		d.n.Add(1)
	}
	return d.Driver.Put(ctx, key, r, opts)
}

// Listing conferences reads conference.xml; it must not open each conference (which
// replays its journal, writes its documents out and keeps it open), least of all one
// that another server of the pool is serving.
func TestListConferencesOnlyReads(t *testing.T) {
	mem := memory.NewStore()
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		t.Fatal(err)
	}
	newEngine := func(d storage.Driver) *conference.Engine {
		e, err := conference.New(conference.Config{Bucket: storage.NewBucket(d), KEK: kek, SnapshotInterval: -1,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	owner := newEngine(memory.New(mem)) // the server serving the conference; never closed
	if _, err := owner.CreateConference(t.Context(), conference.CreateParams{ID: "served", Organizer: "sip:o@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.CreateSlideSet(t.Context(), "served", "Deck", "sip:o@example.com"); err != nil {
		t.Fatal(err) // journaled, not yet written out
	}
	var puts atomic.Int64
	lister := newEngine(countingPuts{Driver: memory.New(mem), n: &puts})
	list, err := lister.ListConferences(t.Context())
	if err != nil || len(list) != 1 || list[0].ID != "served" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if err := lister.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := puts.Load(); n != 0 {
		t.Fatalf("listing conferences wrote %d metadata objects", n)
	}
}
