package conference_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
)

// hideMove is a memory driver without storage.Mover: AdoptEncrypted copies there.
type hideMove struct{ storage.Driver }

// AdoptEncrypted makes a finished upload object the content file: renamed where the
// backend can, copied elsewhere, refused (and left where it was) when it is not the
// conference's upload, not the stated size, or over a limit.
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
	const upload = "uploads/quota/0123456789abcdef0123456789abcdef/part-0000000000"
	tests := []struct {
		name      string
		src       string // where the object is put
		adopt     string // what AdoptEncrypted is given
		plainSize int64
		data      []byte
		want      error
	}{
		{"upload of the conference", upload, upload, 900, sealed(900), nil},
		{"not an upload", "content/x", "content/x", 900, sealed(900), conference.ErrInvalidInput},
		{"another conference's upload", "uploads/other/1/part-0000000000", "uploads/other/1/part-0000000000", 900, sealed(900), conference.ErrInvalidInput},
		{"size differs", upload, upload, 800, sealed(900), conference.ErrInvalidInput},
		{"over the file limit", upload, upload, 1200, sealed(1200), conference.ErrLimit},
		{"missing", upload, upload + "x", 900, sealed(900), storage.ErrNotFound},
	}
	for _, move := range []bool{true, false} {
		for _, tt := range tests {
			name := tt.name + map[bool]string{true: ", rename", false: ", copy"}[move]
			t.Run(name, func(t *testing.T) {
				var d storage.Driver = memory.New(memory.NewStore())
				if !move {
					d = hideMove{d}
				}
				e := quotaEngine(t, d)
				b := storage.NewBucket(d)
				if _, err := b.PutBytes(t.Context(), tt.src, tt.data, storage.Condition{}); err != nil {
					t.Fatal(err)
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
					if got, _, err := b.ReadAll(t.Context(), tt.src); err != nil || !bytes.Equal(got, tt.data) {
						t.Fatalf("a refused adoption changed its source: %v", err)
					}
					if list, _ := e.ListContent(t.Context(), "quota"); len(list) != 0 {
						t.Fatalf("a refused adoption left content %+v", list)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				_, err = b.Stat(t.Context(), tt.src)
				if gone := errors.Is(err, storage.ErrNotFound); gone != move {
					t.Fatalf("source gone: %v, want %v (rename moves it, a copy leaves it to the caller)", gone, move)
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
