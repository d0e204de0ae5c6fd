package httpapi

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// bodyCountingDriver counts the storage Gets whose body is still open.
type bodyCountingDriver struct {
	storage.Driver
	mu         sync.Mutex
	gets, open int
}

func (d *bodyCountingDriver) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, storage.Attributes, error) {
	rc, attrs, err := d.Driver.Get(ctx, key, off, n)
	if err != nil {
		return rc, attrs, err
	}
	d.mu.Lock()
	d.gets++
	d.open++
	d.mu.Unlock()
	return &countedBody{ReadCloser: rc, d: d}, attrs, nil
}

func (d *bodyCountingDriver) counts() (gets, open int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gets, d.open
}

type countedBody struct {
	io.ReadCloser
	d    *bodyCountingDriver
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.d.mu.Lock(); b.d.open--; b.d.mu.Unlock() })
	return b.ReadCloser.Close()
}

// TestMultiRangeClientLeavesMidBody: for multipart/byteranges http.ServeContent
// reads the content from a goroutine of its own, which may still be reading when the
// client leaves and the handler closes the reader. Run with -race: the reader must
// not be touched by both at once, and no Get may be opened after the handler ended
// (or left open).
func TestMultiRangeClientLeavesMidBody(t *testing.T) {
	cd := &bodyCountingDriver{Driver: diskDriver(t)}
	e := newEnvWithDriver(t, cd)
	const size = 16 << 20
	data := make([]byte, size)
	rand.Read(data)
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, data)
	tok := e.token(RoleAttendee, testConf)
	url := e.srv.URL + ContentPath(testOrg, testConf, testName)
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	for range rounds {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Range", "bytes=0-8388607,8388608-16777215")
		tr := e.srv.Client().Transport.(*http.Transport).Clone()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// Into the second part, then away.
		if _, err := io.ReadFull(resp.Body, make([]byte, 8<<20+4096)); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
	}
	e.srv.Close() // waits for the handlers
	if gets, open := cd.counts(); open != 0 {
		t.Fatalf("%d of %d storage Gets left open after every download ended", open, gets)
	}
}

// TestRangeReaderAfterClose: once closed, the reader fails and never opens a Get.
func TestRangeReaderAfterClose(t *testing.T) {
	cd := &bodyCountingDriver{Driver: diskDriver(t)}
	bucket := storage.NewBucket(cd)
	key := "content/" + testOrg + "/" + testConf + "/" + testName
	if _, err := bucket.PutBytes(context.Background(), key, make([]byte, 1000), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	rs := &rangeReader{ctx: context.Background(), bucket: bucket, key: key, size: 1000}
	if _, err := io.ReadFull(rs, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	gets, open := cd.counts()
	if gets != 1 || open != 0 {
		t.Fatalf("after Close: %d Gets, %d open; want 1, 0", gets, open)
	}
	tests := []struct {
		name string
		op   func() error
	}{
		{"Read", func() error { _, err := rs.Read(make([]byte, 10)); return err }},
		{"Seek", func() error { _, err := rs.Seek(500, io.SeekStart); return err }},
		{"Read after a Seek", func() error { _, err := rs.Read(make([]byte, 10)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, errReaderClosed) {
				t.Fatalf("%s after Close: %v, want errReaderClosed", tt.name, err)
			}
			if g, _ := cd.counts(); g != gets {
				t.Fatalf("%s after Close opened a Get", tt.name)
			}
		})
	}
}
