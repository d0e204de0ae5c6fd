package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/core/storage"
)

func TestOpenURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"s3://bucket", false},
		{"s3://bucket/some/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true", false},
		{"s3://bucket/?path_style=false", false},
		{"s3://bucket?max_attempts=1&max_backoff=250ms", false},
		{"s3://bucket?max_attempts=0", true},
		{"s3://bucket?max_attempts=21", true},
		{"s3://bucket?max_attempts=two", true},
		{"s3://bucket?max_backoff=0s", true},
		{"s3://bucket?max_backoff=2h", true},
		{"s3://bucket?max_backoff=5", true},
		{"s3://bucket?profile=no-such-profile-for-lectern", true},
		{"file:///tmp", true},
		{"s3:///prefix", true},
		{"s3://key:secret@bucket/p", true},
		{"s3://bucket?endpoint=ftp://host", true},
		{"s3://bucket?endpoint=127.0.0.1:9000", true},
		{"s3://bucket?path_style=maybe", true},
		{"s3://bucket?colour=blue", true},
		{"s3://bucket?region=a&region=b", true},
		{"s3://bucket/bad..prefix/.hidden", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			d, err := s3.OpenURL(context.Background(), u)
			if tt.wantErr {
				if !errors.Is(err, storage.ErrInvalidArgument) {
					t.Fatalf("OpenURL = %v, want an error matching ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenURL: %v", err)
			}
			d.Close()
		})
	}
}

func TestOpenURLPrefix(t *testing.T) {
	f := newFixture(t)
	u := &url.URL{Scheme: "s3", Host: f.bucket, Path: "/tenant/one"}
	q := url.Values{"endpoint": {f.srv.Endpoint}, "region": {f.srv.Region}, "path_style": {"true"}}
	u.RawQuery = q.Encode()
	t.Setenv("AWS_ACCESS_KEY_ID", f.srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", f.srv.SecretKey)
	d, err := s3.OpenURL(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := storage.NewBucket(d)
	if _, err := b.PutBytes(context.Background(), "a/b", []byte("prefixed"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	// Independently of the backend: the object is under the prefix, its name ends in
	// the terminator, and its bytes follow the header.
	raw := f.stored(t, "tenant/one/a/b!")
	if len(raw) != 16+len("prefixed") || !bytes.Equal(raw[16:], []byte("prefixed")) {
		t.Fatalf("stored object is %q, want a 16-byte header and %q", raw, "prefixed")
	}
	// A driver without the prefix sees the full object name.
	whole := f.bucketHandle(t)
	var keys []string
	for a, err := range whole.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	if fmt.Sprint(keys) != "[tenant/one/a/b]" {
		t.Fatalf("unprefixed listing = %q", keys)
	}
}

// TestPutStrategy checks, through the ETag format S3 gives multipart objects
// ("…-N"), that small puts are one PutObject and large ones stream in parts.
func TestPutStrategy(t *testing.T) {
	f := newFixture(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		size      int
		hint      int64
		wantParts int // 0: a single PutObject
	}{
		{"empty", 0, 0, 0},
		{"small_known", 1 << 20, 1 << 20, 0},
		{"small_unknown", 1 << 20, -1, 0},
		{"just_below_a_part", testPartSize - 16 - 1, -1, 0},
		{"exactly_one_part_stored", testPartSize - 16, -1, 1},
		{"three_parts_unknown", 2*testPartSize + 100, -1, 3},
		{"three_parts_known", 2*testPartSize + 100, 2*testPartSize + 100, 3},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := pattern(tt.size, byte(i))
			key := "strategy/" + tt.name
			a, err := b.Put(ctx, key, hiddenReader{bytes.NewReader(data)}, storage.PutOptions{Size: tt.hint})
			if err != nil {
				t.Fatal(err)
			}
			if a.Size != int64(tt.size) {
				t.Errorf("Put returned size %d, want %d", a.Size, tt.size)
			}
			parts := 0
			if i := strings.LastIndexByte(a.Version, '-'); i >= 0 {
				fmt.Sscanf(strings.Trim(a.Version[i+1:], `"`), "%d", &parts)
			}
			if parts != tt.wantParts {
				t.Errorf("version %s: %d parts, want %d", a.Version, parts, tt.wantParts)
			}
			raw := f.stored(t, key+"!")
			if len(raw) != 16+tt.size || !bytes.Equal(raw[16:], data) {
				t.Fatalf("stored object is %d bytes, want a 16-byte header and the %d bytes put", len(raw), tt.size)
			}
			wantContent(t, b, key, data)
		})
	}
}

// TestStoredVersionsDiffer: the random header makes identical content get different
// ETags, which the conditional replace relies on.
func TestStoredVersionsDiffer(t *testing.T) {
	f := newFixture(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	first, err := b.PutBytes(ctx, "same", []byte("same bytes"), storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	first2 := f.stored(t, "same!")
	second, err := b.PutBytes(ctx, "same", []byte("same bytes"), storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Version == second.Version {
		t.Fatalf("two puts of the same bytes got the same version %s", first.Version)
	}
	if bytes.Equal(first2[:16], f.stored(t, "same!")[:16]) {
		t.Fatal("two puts stored the same header")
	}
	// The stale version loses even though the content is the same.
	_, err = b.PutBytes(ctx, "same", []byte("same bytes"), storage.Condition{IfVersion: first.Version})
	if !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("replace with the overwritten version = %v, want ErrPrecondition", err)
	}
}

// TestForeignObject: objects the backend did not write (too short for the header,
// or without the name terminator) are refused with a clear category rather than
// misread.
func TestForeignObject(t *testing.T) {
	ctx := context.Background()
	t.Run("too_short", func(t *testing.T) {
		f := newFixture(t)
		b := f.bucketHandle(t)
		if _, err := f.srv.Client(t).PutObject(ctx, f.bucket, "foreign!", strings.NewReader("tiny"), 4, miniogoPutOptions()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, "foreign"); !errors.Is(err, storage.ErrInvalidArgument) {
			t.Errorf("Stat of a foreign object = %v, want ErrInvalidArgument", err)
		}
		if _, _, err := b.Get(ctx, "foreign", 0, -1); !errors.Is(err, storage.ErrInvalidArgument) {
			t.Errorf("Get of a foreign object = %v, want ErrInvalidArgument", err)
		}
		wantListError(t, b)
	})
	t.Run("no_terminator", func(t *testing.T) {
		f := newFixture(t)
		b := f.bucketHandle(t)
		body := strings.Repeat("x", 40)
		if _, err := f.srv.Client(t).PutObject(ctx, f.bucket, "stray", strings.NewReader(body), int64(len(body)), miniogoPutOptions()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, "stray"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat of a key only a foreign object has = %v, want ErrNotFound", err)
		}
		wantListError(t, b)
	})
}

func wantListError(t *testing.T, b *storage.Bucket) {
	t.Helper()
	n := 0
	for _, err := range b.List(context.Background(), "") {
		n++
		if !errors.Is(err, storage.ErrInvalidArgument) {
			t.Errorf("List over a foreign object yielded %v, want ErrInvalidArgument", err)
		}
	}
	if n != 1 {
		t.Errorf("List yielded %d entries, want 1 error", n)
	}
}

// TestMultipartConditional: the conditions of a multipart put are checked by
// CompleteMultipartUpload; a losing upload is aborted.
func TestMultipartConditional(t *testing.T) {
	f := newFixture(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	big := pattern(2*testPartSize, 1)
	first, err := b.Put(ctx, "mp", hiddenReader{bytes.NewReader(big)}, storage.PutOptions{Size: -1, Condition: storage.Condition{IfNotExists: true}})
	if err != nil {
		t.Fatalf("create-only multipart put of a new key: %v", err)
	}
	_, err = b.Put(ctx, "mp", hiddenReader{bytes.NewReader(pattern(2*testPartSize, 2))}, storage.PutOptions{Size: -1, Condition: storage.Condition{IfNotExists: true}})
	if !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("create-only multipart put of an existing key = %v, want ErrPrecondition", err)
	}
	bigger := pattern(3*testPartSize, 3)
	second, err := b.Put(ctx, "mp", hiddenReader{bytes.NewReader(bigger)}, storage.PutOptions{Size: -1, Condition: storage.Condition{IfVersion: first.Version}})
	if err != nil {
		t.Fatalf("multipart replace with the current version: %v", err)
	}
	_, err = b.Put(ctx, "mp", hiddenReader{bytes.NewReader(big)}, storage.PutOptions{Size: -1, Condition: storage.Condition{IfVersion: first.Version}})
	if !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("multipart replace with a stale version = %v, want ErrPrecondition", err)
	}
	wantContent(t, b, "mp", bigger)
	if st, err := b.Stat(ctx, "mp"); err != nil || st.Version != second.Version {
		t.Fatalf("Stat = %+v, %v; want version %s", st, err, second.Version)
	}
	if left := f.incompleteUploads(t, "mp"); len(left) != 0 {
		t.Fatalf("multipart uploads left behind: %q", left)
	}
}

// TestMultipartCreateRace: several instances race to create one key with objects of
// several parts; exactly one wins and no upload is left behind.
func TestMultipartCreateRace(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 8 × 10 MiB")
	}
	f := newFixture(t)
	ctx := context.Background()
	const racers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
		errs    []error
	)
	for i := range racers {
		b := f.bucketHandle(t) // one instance each, as separate servers would have
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := pattern(2*testPartSize, byte(10+i))
			_, err := b.Put(ctx, "race", hiddenReader{bytes.NewReader(data)}, storage.PutOptions{Size: -1, Condition: storage.Condition{IfNotExists: true}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, i)
			case !errors.Is(err, storage.ErrPrecondition):
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("losers got errors other than ErrPrecondition: %v", errs)
	}
	if len(winners) != 1 {
		t.Fatalf("%d winners %v, want exactly 1", len(winners), winners)
	}
	wantContent(t, f.bucketHandle(t), "race", pattern(2*testPartSize, byte(10+winners[0])))
	if left := f.incompleteUploads(t, "race"); len(left) != 0 {
		t.Fatalf("multipart uploads left behind: %q", left)
	}
}

// failAfter yields data up to n bytes and then fails.
type failAfter struct {
	data []byte
	n    int
	pos  int
}

var errSource = errors.New("the source failed on purpose")

func (r *failAfter) Read(p []byte) (int, error) {
	if r.pos >= r.n {
		return 0, errSource
	}
	k := copy(p, r.data[r.pos:r.n])
	r.pos += k
	return k, nil
}

// blockAfter yields data up to n bytes, signals reached, then blocks until release
// is closed and fails.
type blockAfter struct {
	data    []byte
	n       int
	pos     int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlockAfter(data []byte, n int) *blockAfter {
	return &blockAfter{data: data, n: n, reached: make(chan struct{}), release: make(chan struct{})}
}

func (r *blockAfter) Read(p []byte) (int, error) {
	if r.pos >= r.n {
		r.once.Do(func() { close(r.reached) })
		<-r.release
		return 0, errSource
	}
	k := copy(p, r.data[r.pos:r.n])
	r.pos += k
	return k, nil
}

// TestMultipartAbort: a multipart put whose reader fails or whose context is
// cancelled after several parts leaves the old object and no upload behind.
func TestMultipartAbort(t *testing.T) {
	f := newFixture(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	old := []byte("the old object")
	data := pattern(4*testPartSize, 7)

	t.Run("reader_fails", func(t *testing.T) {
		key := "abort/reader"
		if _, err := b.PutBytes(ctx, key, old, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
		_, err := b.Put(ctx, key, &failAfter{data: data, n: 3*testPartSize + 10}, storage.PutOptions{Size: int64(len(data))})
		if !errors.Is(err, errSource) {
			t.Fatalf("Put with a failing reader = %v, want the reader's error", err)
		}
		wantContent(t, b, key, old)
		if left := f.incompleteUploads(t, key); len(left) != 0 {
			t.Fatalf("multipart uploads left behind: %q", left)
		}
	})

	t.Run("context_cancelled", func(t *testing.T) {
		key := "abort/cancel"
		if _, err := b.PutBytes(ctx, key, old, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
		r := newBlockAfter(data, 3*testPartSize+10)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := b.Put(cctx, key, r, storage.PutOptions{Size: -1})
			done <- err
		}()
		<-r.reached // two parts are on their way or sent
		cancel()
		close(r.release)
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Put = %v, want an error matching context.Canceled", err)
		}
		wantContent(t, b, key, old)
		if left := f.incompleteUploads(t, key); len(left) != 0 {
			t.Fatalf("multipart uploads left behind: %q", left)
		}
	})
}

// TestGetReadsAreStreamed: a range of a multipart object reads exactly its bytes.
func TestGetRangesOfMultipartObject(t *testing.T) {
	f := newFixture(t)
	b := f.bucketHandle(t)
	ctx := context.Background()
	data := pattern(2*testPartSize+1000, 9)
	if _, err := b.Put(ctx, "m", hiddenReader{bytes.NewReader(data)}, storage.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ off, n int64 }{
		{0, -1}, {testPartSize - 20, 40}, {int64(len(data)) - 1, -1}, {int64(len(data)), -1},
		{int64(len(data)) - 5, 100}, {testPartSize, 0}, {10, math.MaxInt64},
	} {
		rc, a, err := b.Get(ctx, "m", r.off, r.n)
		if err != nil {
			t.Fatalf("Get(%d, %d): %v", r.off, r.n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		end := int64(len(data))
		if r.n >= 0 && r.n < end-r.off { // (not r.off+r.n: it may overflow)
			end = r.off + r.n
		}
		if !bytes.Equal(got, data[r.off:end]) || a.Size != int64(len(data)) {
			t.Fatalf("Get(%d, %d) = %d bytes (size %d), want %d bytes (size %d)", r.off, r.n, len(got), a.Size, end-r.off, len(data))
		}
	}
	if _, _, err := b.Get(ctx, "m", int64(len(data))+1, -1); !errors.Is(err, storage.ErrInvalidRange) {
		t.Fatalf("Get past the end = %v, want ErrInvalidRange", err)
	}
}

// TestRetryBudget: a server that drops every connection is tried max_attempts times
// (default 3), and the failure comes out as storage.ErrUnavailable. The "server" is a
// listener on 127.0.0.1 that counts and closes connections.
func TestRetryBudget(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "lectern-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "lectern-test-secret")
	for _, tc := range []struct {
		query string
		want  int64
	}{
		{"&max_backoff=10ms", s3.DefaultMaxAttempts},
		{"&max_backoff=10ms&max_attempts=1", 1},
		{"&max_backoff=10ms&max_attempts=5", 5},
	} {
		t.Run(tc.query, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			var accepted atomic.Int64
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					accepted.Add(1)
					c.Close()
				}
			}()
			u, err := url.Parse("s3://bucket/p?path_style=true&region=us-east-1&endpoint=http://" + l.Addr().String() + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			d, err := s3.OpenURL(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, err = storage.NewBucket(d).Stat(context.Background(), "k")
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("Stat against a server that drops connections: %v, want ErrUnavailable", err)
			}
			if got := accepted.Load(); got != tc.want {
				t.Fatalf("%d connections, want %d attempts", got, tc.want)
			}
		})
	}
}
