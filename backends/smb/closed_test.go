package smb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// TestServerClosesTheConnection: the server closes the connection on an operation's
// first request (as smbd 4.17 now and then does while other clients create and remove
// the same folders: its process for the connection ends). A read, or a put that has
// read nothing of its data yet, tries once more on a fresh connection and succeeds;
// before, it failed as unavailable though the server was up. A second close in a
// row fails it as unavailable.
func TestServerClosesTheConnection(t *testing.T) {
	ctx := testCtx(t)
	tests := []struct {
		name  string
		cuts  int // requests cut before the server sees them
		drops int // requests carried out whose answer is lost
		run   func(b *storage.Bucket, v storage.Attributes) error
		// wantErr is nil for a success, else the category of the failure.
		wantErr error
	}{
		{name: "stat", cuts: 1, run: func(b *storage.Bucket, _ storage.Attributes) error {
			_, err := b.Stat(ctx, "k")
			return err
		}},
		{name: "get", cuts: 1, run: func(b *storage.Bucket, _ storage.Attributes) error {
			data, _, err := b.ReadAll(ctx, "k")
			if err == nil && string(data) != "first" {
				return errors.New("read " + string(data))
			}
			return err
		}},
		{name: "list", cuts: 1, run: func(b *storage.Bucket, _ storage.Attributes) error {
			n := 0
			for _, err := range b.List(ctx, "") {
				if err != nil {
					return err
				}
				n++
			}
			if n != 1 {
				return errors.New("the listing missed the key")
			}
			return nil
		}},
		{name: "put", cuts: 1, run: func(b *storage.Bucket, _ storage.Attributes) error {
			return putAndCheck(ctx, b, "sub/new", storage.Condition{})
		}},
		{name: "conditional put", cuts: 1, run: func(b *storage.Bucket, v storage.Attributes) error {
			return putAndCheck(ctx, b, "k", storage.Condition{IfVersion: v.Version})
		}},
		{name: "put whose first create was carried out", drops: 1, run: func(b *storage.Bucket, _ storage.Attributes) error {
			return putAndCheck(ctx, b, "k", storage.Condition{})
		}},
		{name: "closed twice", cuts: 2, wantErr: storage.ErrUnavailable, run: func(b *storage.Bucket, _ storage.Attributes) error {
			_, err := b.Stat(ctx, "k")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, f := openFrozen(t)
			v, err := b.PutBytes(ctx, "k", []byte("first"), storage.Condition{}) // and a connection in the pool
			if err != nil {
				t.Fatal(err)
			}
			connections := f.Accepted()
			f.CutNextRequests(tt.cuts)
			f.DropNextAnswers(tt.drops)
			err = tt.run(b, v)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("failed although the server was up (a fresh connection would have worked): %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("got %v, want an error of category %v", err, tt.wantErr)
			}
			if got := f.Accepted() - connections; tt.wantErr == nil && got != 1 {
				t.Errorf("%d new connections, want 1", got)
			}
			f.CutNextRequests(0)
			f.DropNextAnswers(0)
			if _, err := b.Stat(ctx, "k"); err != nil {
				t.Errorf("a stat after it: %v", err)
			}
			if tt.wantErr == nil {
				for _, name := range folderNames(t, b, "") {
					if strings.HasPrefix(name, tempPrefix) {
						t.Errorf("a temporary file is left beside the key: %s", name)
					}
				}
			}
		})
	}
}

// folderNames lists the folder of the driver under b, dot-named files included.
func folderNames(t *testing.T, b *storage.Bucket, folder string) []string {
	t.Helper()
	d := b.Driver().(*Driver)
	c, err := d.pool.get(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	p := d.path(folder)
	if p == "" {
		p = "."
	}
	infos, err := c.on(testCtx(t)).ReadDir(p)
	d.pool.put(c, err)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range infos {
		names = append(names, fi.Name())
	}
	return names
}

// putAndCheck puts a fresh value at key under cond and reads it back.
func putAndCheck(ctx context.Context, b *storage.Bucket, key string, cond storage.Condition) error {
	want := []byte("second value")
	if _, err := b.Put(ctx, key, bytes.NewReader(want), storage.PutOptions{Condition: cond, Size: int64(len(want))}); err != nil {
		return err
	}
	r, _, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err == nil && !bytes.Equal(got, want) {
		return errors.New("read back " + string(got))
	}
	return err
}
