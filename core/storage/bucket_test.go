package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/storage"
)

// countingReader counts the bytes the caller took.
type countingReader struct {
	io.ReadCloser
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	*c.n += int64(n)
	return n, err
}

type countingDriver struct {
	*memory.Driver
	read *int64
}

func (d countingDriver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, attrs, err := d.Driver.Get(ctx, key, offset, length)
	if err != nil {
		return nil, attrs, err
	}
	return countingReader{rc, d.read}, attrs, nil
}

func TestReadAllLimit(t *testing.T) {
	const size = 1000
	data := bytes.Repeat([]byte("x"), size)
	tests := []struct {
		name       string
		limit      int64
		lyingSize  bool // the backend reports 0 bytes
		wantErr    bool
		wantAtMost int64 // bytes taken from the backend's reader
	}{
		{name: "no limit", limit: -1, wantAtMost: size},
		{name: "limit above size", limit: size + 1, wantAtMost: size},
		{name: "limit at size", limit: size, wantAtMost: size},
		{name: "limit below size", limit: size - 1, wantErr: true, wantAtMost: 0},
		{name: "limit zero", limit: 0, wantErr: true, wantAtMost: 0},
		{name: "size misreported, limit below", limit: 10, lyingSize: true, wantErr: true, wantAtMost: 11},
		{name: "size misreported, limit at size", limit: size, lyingSize: true, wantAtMost: size},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var read int64
			var d storage.Driver = countingDriver{memory.New(memory.NewStore()), &read}
			if tc.lyingSize {
				d = lying{d}
			}
			b := storage.NewBucket(d)
			ctx := context.Background()
			if _, err := b.PutBytes(ctx, "k", data, storage.Condition{}); err != nil {
				t.Fatal(err)
			}
			got, _, err := b.ReadAllLimit(ctx, "k", tc.limit)
			var tl *storage.TooLargeError
			switch {
			case tc.wantErr && !errors.As(err, &tl):
				t.Fatalf("ReadAllLimit(%d) = %d bytes, %v; want a *TooLargeError", tc.limit, len(got), err)
			case tc.wantErr && (tl.Key != "k" || tl.Limit != tc.limit):
				t.Fatalf("TooLargeError = %+v", tl)
			case !tc.wantErr && (err != nil || !bytes.Equal(got, data)):
				t.Fatalf("ReadAllLimit(%d) = %d bytes, %v; want the %d bytes", tc.limit, len(got), err, size)
			}
			if read > tc.wantAtMost {
				t.Fatalf("took %d bytes from the backend, want at most %d", read, tc.wantAtMost)
			}
			if err != nil && storage.KindOf(err) != nil {
				t.Fatalf("a too-large object is classified as %v; it is no storage failure", storage.KindOf(err))
			}
		})
	}
}

// lying reports every object as empty on Get, as a backend would whose object grew
// between the answer's headers and the read.
type lying struct{ storage.Driver }

func (d lying) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, attrs, err := d.Driver.Get(ctx, key, offset, length)
	attrs.Size = 0
	return rc, attrs, err
}
