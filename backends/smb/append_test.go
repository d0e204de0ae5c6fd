package smb

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// appendFixture puts head at key on a fresh folder and returns the bucket and the
// put's attributes.
func appendFixture(t *testing.T, key string, head []byte) (*storage.Bucket, storage.Attributes) {
	t.Helper()
	bk, _, _ := fresh(t)
	attrs, err := bk.PutBytes(testCtx(t), key, head, storage.Condition{})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return bk, attrs
}

// wantObject checks the bytes of key and that Stat reports attrs.
func wantObject(t *testing.T, bk *storage.Bucket, key string, want []byte, attrs storage.Attributes) {
	t.Helper()
	got, ga, err := bk.ReadAll(testCtx(t), key)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes (%v), want %d: %.40q / %.40q", key, len(got), err, len(want), got, want)
	}
	if attrs.Version != "" && (ga.Version != attrs.Version || ga.Size != attrs.Size) {
		t.Fatalf("Get of %s reports %+v, Append answered %+v", key, ga, attrs)
	}
}

// failAfter yields data and then fails.
type failAfter struct {
	data []byte
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// gateReader yields data once gate is closed, and closes reached when first read.
type gateReader struct {
	r       io.Reader
	gate    chan struct{}
	reached chan struct{}
	once    bool
}

func (g *gateReader) Read(p []byte) (int, error) {
	if !g.once {
		g.once = true
		close(g.reached)
		<-g.gate
	}
	return g.r.Read(p)
}

func TestAppend(t *testing.T) {
	head := bytes.Repeat([]byte("0123456789"), 1000) // 10 000 bytes
	more := bytes.Repeat([]byte("abcdefghij"), 300_000)
	errReader := errors.New("the client went away")
	tests := []struct {
		name      string
		key       string // "" is "obj/k", the key the fixture puts
		offset    int64
		data      []byte
		r         io.Reader // nil is data
		ifVersion string    // "put" names the fixture's version
		wantErr   error     // a storage kind, or errReader
		want      []byte    // the object afterwards (the first offset bytes after a failure)
	}{
		{name: "after the end", offset: 10_000, data: more, want: append(head[:10_000:10_000], more...)},
		{name: "after the end with the version", offset: 10_000, data: []byte("x"), ifVersion: "put", want: append(head[:10_000:10_000], 'x')},
		{name: "shorter offset cuts", offset: 4000, data: []byte("tail"), want: append(head[:4000:4000], "tail"...)},
		{name: "cut to nothing", offset: 0, want: []byte{}},
		{name: "nothing at the end", offset: 10_000, want: head},
		{name: "offset beyond the size", offset: 10_001, data: []byte("gap"), wantErr: storage.ErrPrecondition, want: head},
		{name: "missing key", key: "obj/missing", data: []byte("x"), wantErr: storage.ErrNotFound},
		{name: "missing folder", key: "nofolder/k", data: []byte("x"), wantErr: storage.ErrNotFound},
		{name: "a folder has the name", key: "obj", data: []byte("x"), wantErr: storage.ErrNotFound},
		{name: "wrong version", offset: 10_000, data: []byte("x"), ifVersion: "1.2.3", wantErr: storage.ErrPrecondition, want: head},
		{name: "failing reader", offset: 6000, r: &failAfter{data: more[:2<<20], err: errReader}, wantErr: errReader, want: head[:6000]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			bk, put := appendFixture(t, "obj/k", head)
			key := tt.key
			if key == "" {
				key = "obj/k"
			}
			r := tt.r
			if r == nil {
				r = bytes.NewReader(tt.data)
			}
			ifVersion := tt.ifVersion
			if ifVersion == "put" {
				ifVersion = put.Version
			}
			attrs, err := bk.Append(ctx, key, tt.offset, r, ifVersion)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
				if attrs.Key != key || attrs.Size != int64(len(tt.want)) || attrs.Version == put.Version {
					t.Fatalf("Append = %+v, want size %d and a new version (Put's was %s)", attrs, len(tt.want), put.Version)
				}
				st, err := bk.Stat(ctx, key)
				if err != nil || st.Version != attrs.Version || st.Size != attrs.Size {
					t.Fatalf("Stat after Append = %+v, %v; Append answered %+v", st, err, attrs)
				}
				wantObject(t, bk, key, tt.want, attrs)
				// The old version is gone for every writer.
				if _, err := bk.PutBytes(ctx, key, []byte("stale"), storage.Condition{IfVersion: put.Version}); !errors.Is(err, storage.ErrPrecondition) {
					t.Fatalf("Put naming the version before the Append: %v, want ErrPrecondition", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Append: %v, want %v", err, tt.wantErr)
			}
			if tt.want == nil {
				if _, err := bk.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Stat(%q) after a refused Append: %v, want ErrNotFound", key, err)
				}
				return
			}
			if !errors.Is(err, errReader) {
				// Refused: nothing changed, not even the version.
				st, err := bk.Stat(ctx, key)
				if err != nil || st.Version != put.Version {
					t.Fatalf("a refused Append changed the version: %+v, %v (was %s)", st, err, put.Version)
				}
				wantObject(t, bk, key, tt.want, storage.Attributes{})
				return
			}
			// Failed midway: the first offset bytes are intact, and appending there again
			// with the version Stat reports works.
			rc, _, err := bk.Get(ctx, key, 0, tt.offset)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("after a failed Append the first %d bytes are %.40q (%v)", tt.offset, got, err)
			}
			st, err := bk.Stat(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if st.Version == put.Version {
				t.Fatalf("a failed Append that wrote bytes kept the version %s", put.Version)
			}
			attrs, err = bk.Append(ctx, key, tt.offset, bytes.NewReader(more), st.Version)
			if err != nil {
				t.Fatalf("retry at the same offset with the current version: %v", err)
			}
			wantObject(t, bk, key, append(head[:tt.offset:tt.offset], more...), attrs)
		})
	}
}

// TestAppendExcludesOthers: while an Append is between its version stamp and its
// bytes (its reader blocks), the version has already changed, a second Append on
// another driver is refused however it is asked, and no claim or lock file stays
// behind afterwards.
func TestAppendExcludesOthers(t *testing.T) {
	_, srv, folder := fresh(t)
	ctx := testCtx(t)
	one, two := storage.NewBucket(openOn(t, srv, folder, "")), storage.NewBucket(openOn(t, srv, folder, ""))
	head := []byte("head")
	put, err := one.PutBytes(ctx, "x/k", head, storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	gr := &gateReader{r: strings.NewReader("first"), gate: make(chan struct{}), reached: make(chan struct{})}
	type result struct {
		attrs storage.Attributes
		err   error
	}
	done := make(chan result, 1)
	go func() {
		a, err := one.Append(ctx, "x/k", 4, gr, put.Version)
		done <- result{a, err}
	}()
	released := false
	t.Cleanup(func() {
		if !released {
			close(gr.gate)
			<-done
		}
	})
	select {
	case <-gr.reached:
	case r := <-done:
		t.Fatalf("Append ended before reading: %+v", r)
	}
	st, err := two.Stat(ctx, "x/k")
	if err != nil || st.Version == put.Version {
		t.Fatalf("Stat during the Append: %+v, %v; want a version other than %s", st, err, put.Version)
	}
	if _, err := two.PutBytes(ctx, "x/k", []byte("late"), storage.Condition{IfVersion: put.Version}); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("Put with the old version during the Append: %v, want ErrPrecondition", err)
	}
	for _, v := range []string{"", put.Version, st.Version} {
		start := time.Now()
		_, err := two.Append(ctx, "x/k", 4, strings.NewReader("second"), v)
		if !errors.Is(err, storage.ErrPrecondition) {
			t.Fatalf("second Append (version %q) during the first: %v, want ErrPrecondition", v, err)
		}
		t.Logf("second Append (version %q) refused after %v", v, time.Since(start).Round(time.Millisecond))
	}
	close(gr.gate)
	released = true
	r := <-done
	if r.err != nil {
		t.Fatalf("first Append: %v", r.err)
	}
	wantObject(t, two, "x/k", []byte("headfirst"), r.attrs)
	if srv.Root != "" {
		entries, err := os.ReadDir(filepath.Join(srv.Root, folder, "x"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "k" {
				t.Errorf("left behind: %s", e.Name())
			}
		}
	}
	// And the next Append takes the claim at once.
	if _, err := two.Append(ctx, "x/k", 9, strings.NewReader("!"), r.attrs.Version); err != nil {
		t.Fatalf("Append after the first ended: %v", err)
	}
}

// TestAppendBreaksOrphanClaim: a claim file without a holder (what a crashed Append
// leaves) is broken once it has stayed unchanged for staleAfter.
func TestAppendBreaksOrphanClaim(t *testing.T) {
	d, bk, ctx, _ := orphanBeside(t, ".k.append", []byte("++"))
	start := time.Now()
	a, err := bk.Append(ctx, "dir/k", 2, strings.NewReader("+v2"), "")
	if err != nil {
		t.Fatalf("Append with an orphaned claim: %v", err)
	}
	if waited := time.Since(start); waited < d.staleAfter {
		t.Fatalf("the claim was broken after %v, before staleAfter %v", waited, d.staleAfter)
	}
	wantObject(t, bk, "dir/k", []byte("v1+v2"), a)
}
