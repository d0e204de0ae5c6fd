package conferencetest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

func testContentRoundTrip(t *testing.T, env *Env) {
	e := env.Engine(t)
	mustConference(t, e, "content")
	seg := int64(encryption.DefaultSegmentSize)
	for _, size := range []int64{0, 1, seg - 100, seg, 3*seg + 17} {
		data := randomBytes(t, int(size))
		st := store(t, e, "content", conference.SlideContent, data)
		if st.Size != size || layout.ValidateContentName(st.Name) != nil || !strings.HasSuffix(st.Name, ".epng") {
			t.Fatalf("stored %+v for %d bytes", st, size)
		}
		ranges := [][2]int64{{0, -1}, {0, size}, {size, -1}, {size / 2, -1}, {size / 3, size / 3}, {0, 1}, {size, 0}}
		for _, r := range ranges {
			got, err := readContent(t, e, "content", st.Name, st.Key, r[0], r[1])
			if err != nil {
				t.Fatalf("size %d range %v: %v", size, r, err)
			}
			end := size
			if r[1] >= 0 {
				end = min(size, r[0]+r[1])
			}
			if !bytes.Equal(got, data[min(r[0], size):end]) {
				t.Fatalf("size %d range %v: wrong bytes", size, r)
			}
		}
		if _, err := readContent(t, e, "content", st.Name, st.Key, size+1, -1); !errors.Is(err, storage.ErrInvalidRange) {
			t.Fatalf("range past the end: %v", err)
		}
	}
	list, err := e.ListContent(ctx(t), "content")
	if err != nil || len(list) != 5 {
		t.Fatalf("list content: %d, %v", len(list), err)
	}
}

func testContentIsCiphertext(t *testing.T, env *Env) {
	e := env.Engine(t)
	mustConference(t, e, "secret")
	marker := []byte("LECTERN-PLAINTEXT-MARKER-")
	data := bytes.Repeat(marker, 4000)
	st := store(t, e, "secret", conference.SlideContent, data)
	set, _ := e.CreateSlideSet(ctx(t), "secret", "Quarterly numbers LECTERN-PLAINTEXT-MARKER-", "sip:a@b")
	if _, err := e.UpdateSlideSet(ctx(t), "secret", set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "LECTERN-PLAINTEXT-MARKER-"}, Image: st.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// Read every stored object through a separate backend instance.
	b := env.Bucket(t)
	n := 0
	for attrs, err := range b.List(ctx(t), "") {
		if err != nil {
			t.Fatal(err)
		}
		raw, _, err := b.ReadAll(ctx(t), attrs.Key)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if bytes.Contains(raw, marker) || bytes.Contains(raw, []byte(st.Key.Hex())) {
			t.Errorf("%s holds plaintext or a content key", attrs.Key)
		}
	}
	if n < 4 {
		t.Fatalf("only %d objects stored", n)
	}
}

func testContentWrongKey(t *testing.T, env *Env) {
	e := env.Engine(t)
	mustConference(t, e, "wrongkey")
	st := store(t, e, "wrongkey", conference.SlideContent, randomBytes(t, 1000))
	other, _ := encryption.NewKey()
	if _, err := readContent(t, e, "wrongkey", st.Name, other, 0, -1); !errors.Is(err, encryption.ErrAuthentication) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := readContent(t, e, "wrongkey", "x00000000000000000000000000000000.epng", st.Key, 0, -1); !errors.Is(err, conference.ErrNotFound) {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := readContent(t, e, "wrongkey", "../../index/wrongkey", st.Key, 0, -1); !errors.Is(err, conference.ErrInvalidInput) {
		t.Fatalf("traversal name: %v", err)
	}
}

// failingReader yields n bytes, then fails.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func testContentLimits(t *testing.T, env *Env) {
	limits := conference.Limits{MaxContentFile: 4000, MaxHandoutFile: 1000, MaxConferenceContent: 10000,
		MaxConferenceHandouts: 1500, MaxContentFiles: 5, MaxHandoutFiles: 2}
	e := env.Engine(t, func(c *conference.Config) { c.Limits = limits })
	c := ctx(t)
	mustConference(t, e, "limits")
	put := func(p conference.Purpose, r io.Reader, hint int64) error {
		_, err := e.StoreContent(c, "limits", p, "bin", r, hint)
		return err
	}
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"file over the limit, size known", func() error { return put(conference.SlideContent, bytes.NewReader(make([]byte, 4001)), 4001) }, conference.ErrLimit},
		{"file over the limit, size unknown", func() error { return put(conference.SlideContent, bytes.NewReader(make([]byte, 4001)), -1) }, conference.ErrLimit},
		{"size hint lies", func() error { return put(conference.SlideContent, bytes.NewReader(make([]byte, 4001)), 10) }, conference.ErrLimit},
		{"handout over its limit", func() error { return put(conference.HandoutContent, bytes.NewReader(make([]byte, 1001)), -1) }, conference.ErrLimit},
		{"reader fails midway", func() error { return put(conference.SlideContent, &failingReader{n: 3000}, -1) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want an error matching %v", err, tt.want)
			}
		})
	}
	if _, err := e.StoreContent(c, "limits", conference.SlideContent, "../x", bytes.NewReader(nil), 0); !errors.Is(err, conference.ErrInvalidInput) {
		t.Fatalf("bad content type: %v", err)
	}
	list, err := e.ListContent(c, "limits")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("refused uploads left files behind: %+v", list)
	}
	// Conference quota: concurrent uploads cannot overrun it together.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stored, limited int
	for range 6 {
		wg.Go(func() {
			err := put(conference.SlideContent, bytes.NewReader(make([]byte, 3000)), 3000)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				stored++
			case errors.Is(err, conference.ErrLimit):
				limited++
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if stored != 3 || limited != 3 {
		t.Fatalf("stored %d and refused %d uploads of 3000 bytes under a 10000-byte quota; want 3 and 3", stored, limited)
	}
	for range 2 {
		if err := put(conference.SlideContent, bytes.NewReader(nil), 0); err != nil {
			t.Fatalf("fourth and fifth file: %v", err)
		}
	}
	if err := put(conference.SlideContent, bytes.NewReader(nil), 0); !errors.Is(err, conference.ErrLimit) {
		t.Fatalf("sixth file (limit 5): %v", err)
	}
}

func testContentReferencesVerified(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "refs")
	mustConference(t, e, "elsewhere")
	st := store(t, e, "refs", conference.SlideContent, randomBytes(t, 100))
	foreign := store(t, e, "elsewhere", conference.SlideContent, randomBytes(t, 100))
	other, _ := encryption.NewKey()
	set, _ := e.CreateSlideSet(c, "refs", "Deck", "sip:a@b")
	tests := []struct {
		name string
		ref  metadata.ContentRef
		ok   bool
	}{
		{"stored content", st.Ref(), true},
		{"wrong key", metadata.ContentRef{Name: st.Name, Key: other.Hex()}, false},
		{"never stored", metadata.ContentRef{Name: "x0123456789abcdef0123456789abcdef.epng", Key: other.Hex()}, false},
		{"another conference's content", foreign.Ref(), false},
		{"legacy short name", metadata.ContentRef{Name: "x8d51284585d1.epng", Key: "a51fe0f3e26813761e12435a9c2c5d89"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.UpdateSlideSet(c, "refs", set.ID, func(s *metadata.SlideSet) error {
				_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "p"}, RichSlideType: metadata.RichSnapshot, Image: tt.ref})
				return err
			})
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, conference.ErrInvalidInput) {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// Content that a slide set or a live handout references cannot be deleted on its own
// (ErrInUse, nothing removed), and one blob backs at most one live handout: deleting
// a handout deletes its blob, which would break a second handout on it.
func testReferencedContentKept(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "inuse")
	used := store(t, e, "inuse", conference.SlideContent, randomBytes(t, 300))
	loose := store(t, e, "inuse", conference.SlideContent, randomBytes(t, 300))
	set, err := e.CreateSlideSet(c, "inuse", "Deck", "sip:a@b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateSlideSet(c, "inuse", set.ID, func(s *metadata.SlideSet) error {
		_, err := s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "p"}, RichSlideType: metadata.RichSnapshot, Image: used.Ref()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	fs := addHandout(t, e, "inuse", []byte("handout"), "h.txt")
	tests := []struct {
		name    string
		content string
		want    error
	}{
		{"referenced by a slide set", used.Name, conference.ErrInUse},
		{"a live handout's blob", fs.Blob.Name, conference.ErrInUse},
		{"unreferenced", loose.Name, nil},
		{"already gone", loose.Name, conference.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.DeleteContent(c, "inuse", tt.content)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("DeleteContent: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := readContent(t, e, "inuse", used.Name, used.Key, 0, -1); err != nil {
		t.Fatalf("referenced content after a refused delete: %v", err)
	}
	if _, err := e.AddHandout(c, "inuse", conference.HandoutParams{Blob: fs.Blob, OriginalFilename: "again.txt"}); !errors.Is(err, conference.ErrInUse) {
		t.Fatalf("a second handout on one blob: %v, want ErrInUse", err)
	}
	if list, err := e.ListHandouts(c, "inuse"); err != nil || len(list) != 1 {
		t.Fatalf("handouts after the refused second one: %d, %v", len(list), err)
	}
	// Once the reference is gone, so is the refusal.
	if _, err := e.UpdateSlideSet(c, "inuse", set.ID, func(s *metadata.SlideSet) error {
		s.Slides = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteContent(c, "inuse", used.Name); err != nil {
		t.Fatalf("DeleteContent after the reference was removed: %v", err)
	}
}

func testStoreEncryptedAndCheckUpload(t *testing.T, env *Env) {
	limits := conference.DefaultLimits()
	limits.MaxConferenceContent = 5000
	e := env.Engine(t, func(c *conference.Config) { c.Limits = limits })
	c := ctx(t)
	mustConference(t, e, "pre")
	data := randomBytes(t, 3000)
	key, _ := encryption.NewKey()
	var ct bytes.Buffer
	w, _ := encryption.NewWriter(&ct, key)
	w.Write(data)
	w.Close()
	name, _ := conference.NewContentName(conference.SlideContent, "media")
	st, err := e.StoreEncrypted(c, "pre", conference.SlideContent, name, key, bytes.NewReader(ct.Bytes()), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readContent(t, e, "pre", st.Name, key, 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"fits", e.CheckUpload(c, "pre", conference.SlideContent, 2000), nil},
		{"over the remaining quota", e.CheckUpload(c, "pre", conference.SlideContent, 2001), conference.ErrLimit},
		{"over the file limit", e.CheckUpload(c, "pre", conference.SlideContent, limits.MaxContentFile+1), conference.ErrLimit},
		{"unknown conference", e.CheckUpload(c, "nope", conference.SlideContent, 1), conference.ErrNotFound},
		{"stored over the quota", func() error {
			n, _ := conference.NewContentName(conference.SlideContent, "media")
			_, err := e.StoreEncrypted(c, "pre", conference.SlideContent, n, key, bytes.NewReader(ct.Bytes()), int64(len(data)))
			return err
		}(), conference.ErrLimit},
		{"handout named as content", func() error {
			_, err := e.StoreEncrypted(c, "pre", conference.HandoutContent, name, key, bytes.NewReader(nil), 0)
			return err
		}(), conference.ErrInvalidInput},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if !errors.Is(ch.err, ch.want) || (ch.want == nil) != (ch.err == nil) {
				t.Fatalf("got %v, want %v", ch.err, ch.want)
			}
		})
	}
	if list, _ := e.ListContent(c, "pre"); len(list) != 1 {
		t.Fatalf("refused stores left files: %+v", list)
	}
}
