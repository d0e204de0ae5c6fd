package conference_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
)

// hideMove is a memory driver without any optional extension: AdoptEncrypted copies
// there.
type hideMove struct{ storage.Driver }

// composeOnly is a memory driver that composes but cannot rename.
type composeOnly struct {
	storage.Driver
	c     storage.Composer
	calls *atomic.Int32
}

func (d composeOnly) Compose(ctx context.Context, dst string, srcs []string) (storage.Attributes, error) {
	d.calls.Add(1)
	return d.c.Compose(ctx, dst, srcs)
}
func (d composeOnly) ComposeLimits() (int64, int) { return d.c.ComposeLimits() }

// AdoptEncrypted makes a finished upload's objects the content file: one renamed
// where the backend can, several (or one that cannot be renamed) composed where it
// can, copied elsewhere; refused (and left where they were) when they are not the
// conference's upload, not the stated size, missing, or over a limit.
func TestAdoptEncrypted(t *testing.T) {
	key, err := encryption.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	sealed := func(n int) []byte {
		var ct bytes.Buffer
		w, _ := encryption.NewWriter(&ct, key)
		_, _ = w.Write(bytes.Repeat([]byte("z"), n))
		_ = w.Close()
		return ct.Bytes()
	}
	const upload = "uploads/quota/0123456789abcdef0123456789abcdef/part-"
	one := []string{upload + "0"}
	three := []string{upload + "0", upload + "1", upload + "2"}
	tests := []struct {
		name      string
		srcs      []string // where the objects are put (the ciphertext split evenly)
		adopt     []string // what AdoptEncrypted is given
		plainSize int64
		data      []byte
		want      error
	}{
		{"upload of the conference", one, one, 900, sealed(900), nil},
		{"three parts", three, three, 900, sealed(900), nil},
		{"not an upload", []string{"content/x"}, []string{"content/x"}, 900, sealed(900), conference.ErrInvalidInput},
		{"another conference's upload", []string{"uploads/other/1/part-0"}, []string{"uploads/other/1/part-0"}, 900, sealed(900), conference.ErrInvalidInput},
		{"one part of another conference", three, append(three[:2:2], "uploads/other/1/part-2"), 900, sealed(900), conference.ErrInvalidInput},
		{"size differs", one, one, 800, sealed(900), conference.ErrInvalidInput},
		{"a part left out", three, three[:2], 900, sealed(900), conference.ErrInvalidInput},
		{"over the file limit", one, one, 1200, sealed(1200), conference.ErrLimit},
		{"missing", one, []string{upload + "x"}, 900, sealed(900), storage.ErrNotFound},
		{"no sources", one, nil, 900, sealed(900), conference.ErrInvalidInput},
	}
	for _, mode := range []string{"rename", "compose", "copy"} {
		for _, tt := range tests {
			t.Run(tt.name+", "+mode, func(t *testing.T) {
				mem := memory.New(memory.NewStore())
				var d storage.Driver = mem
				composed := &atomic.Int32{}
				switch mode {
				case "compose":
					d = composeOnly{Driver: hideMove{mem}, c: mem, calls: composed}
				case "copy":
					d = hideMove{mem}
				}
				e := quotaEngine(t, d)
				b := storage.NewBucket(d)
				cut := len(tt.data) / len(tt.srcs)
				for i, k := range tt.srcs {
					part := tt.data[i*cut:]
					if i < len(tt.srcs)-1 {
						part = part[:cut]
					}
					if _, err := b.PutBytes(t.Context(), k, part, storage.Condition{}); err != nil {
						t.Fatal(err)
					}
				}
				stored := func() []byte {
					var all []byte
					for _, k := range tt.srcs {
						got, _, err := b.ReadAll(t.Context(), k)
						if err != nil {
							t.Fatalf("source %s: %v", k, err)
						}
						all = append(all, got...)
					}
					return all
				}
				cname, err := conference.NewContentName(conference.SlideContent, "pdf")
				if err != nil {
					t.Fatal(err)
				}
				st, err := e.AdoptEncrypted(t.Context(), "quota", conference.SlideContent, cname, key, tt.adopt, tt.plainSize)
				if tt.want != nil {
					if !errors.Is(err, tt.want) {
						t.Fatalf("AdoptEncrypted: %v, want %v", err, tt.want)
					}
					if !bytes.Equal(stored(), tt.data) {
						t.Fatal("a refused adoption changed its sources")
					}
					if list, _ := e.ListContent(t.Context(), "quota"); len(list) != 0 {
						t.Fatalf("a refused adoption left content %+v", list)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				moved := mode == "rename" && len(tt.srcs) == 1
				if want := int32(map[bool]int{true: 1}[mode == "compose"]); composed.Load() != want {
					t.Fatalf("%d Compose calls, want %d", composed.Load(), want)
				}
				for _, k := range tt.srcs {
					_, err = b.Stat(t.Context(), k)
					if gone := errors.Is(err, storage.ErrNotFound); gone != moved {
						t.Fatalf("source %s gone: %v, want %v (a rename moves it, a compose or copy leaves it to the caller)", k, gone, moved)
					}
				}
				rc, size, err := e.OpenContent(t.Context(), "quota", st.Name, key, 0, -1)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				var got bytes.Buffer
				if _, err := got.ReadFrom(rc); err != nil || size != 900 || !bytes.Equal(got.Bytes(), bytes.Repeat([]byte("z"), 900)) {
					t.Fatalf("adopted content reads %d bytes, size %d, err %v", got.Len(), size, err)
				}
				// The quota was charged: a second 900-byte file does not fit in 1500.
				again, _ := conference.NewContentName(conference.SlideContent, "pdf")
				if _, err := e.StoreEncrypted(t.Context(), "quota", conference.SlideContent, again, key, bytes.NewReader(tt.data), 900); !errors.Is(err, conference.ErrLimit) {
					t.Fatalf("second store after adoption: %v, want ErrLimit", err)
				}
			})
		}
	}
}
