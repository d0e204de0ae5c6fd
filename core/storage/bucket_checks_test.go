package storage_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// recorder is a driver that does nothing but count the calls that reach it, with the
// capabilities a test declares. Bucket's checks must refuse bad requests before they
// reach a driver, since drivers are documented not to repeat them.
type recorder struct {
	caps  storage.Capabilities
	calls int
}

func (d *recorder) Put(context.Context, string, io.Reader, storage.PutOptions) (storage.Attributes, error) {
	d.calls++
	return storage.Attributes{}, nil
}

func (d *recorder) Get(context.Context, string, int64, int64) (io.ReadCloser, storage.Attributes, error) {
	d.calls++
	return io.NopCloser(strings.NewReader("")), storage.Attributes{}, nil
}

func (d *recorder) Stat(context.Context, string) (storage.Attributes, error) {
	d.calls++
	return storage.Attributes{}, nil
}

func (d *recorder) Delete(context.Context, string) error { d.calls++; return nil }

func (d *recorder) List(context.Context, string) iter.Seq2[storage.Attributes, error] {
	d.calls++
	return func(func(storage.Attributes, error) bool) {}
}

func (d *recorder) Capabilities() storage.Capabilities { return d.caps }
func (d *recorder) Close() error                       { return nil }

// fullRecorder also implements Mover, Appender and Composer, with a Compose limit.
type fullRecorder struct {
	recorder
	maxSources int
}

func (d *fullRecorder) Move(context.Context, string, string) (storage.Attributes, error) {
	d.calls++
	return storage.Attributes{}, nil
}

func (d *fullRecorder) Append(context.Context, string, int64, io.Reader, string) (storage.Attributes, error) {
	d.calls++
	return storage.Attributes{}, nil
}

func (d *fullRecorder) Compose(context.Context, string, []string) (storage.Attributes, error) {
	d.calls++
	return storage.Attributes{}, nil
}

func (d *fullRecorder) ComposeLimits() (int64, int) { return 0, d.maxSources }

// TestBucketChecksBeforeTheDriver pins the checks Bucket makes for every backend from
// the capabilities it declares: a key over a backend's own length limits, a
// conditional put the backend cannot make atomically, a move or compose onto its own
// source (on a case-insensitive backend too), a negative append offset, a compose of
// nothing or of more sources than the backend takes. Without them a driver gets
// requests it is documented never to get: a create-only put would silently replace
// (two uploads both "winning"), a move onto itself could delete the object, a compose
// over the limit would fail half-way in the backend.
func TestBucketChecksBeforeTheDriver(t *testing.T) {
	caps := storage.Capabilities{MaxKeyLength: 20, MaxSegmentLength: 8, CaseInsensitive: true}
	ok := strings.NewReader("x")
	tests := []struct {
		name string
		caps storage.Capabilities
		call func(*storage.Bucket) error
		want error // nil: the call must reach the driver
	}{
		{"key at the backend's length limit", caps, func(b *storage.Bucket) error {
			_, err := b.Stat(t.Context(), "aaaaaaa/bbbbbbb/cccc") // 20 bytes
			return err
		}, nil},
		{"key over the backend's length limit", caps, func(b *storage.Bucket) error {
			_, err := b.Stat(t.Context(), "aaaaaaa/bbbbbbb/ccccc") // 21 bytes
			return err
		}, storage.ErrInvalidArgument},
		{"segment at the backend's segment limit", caps, func(b *storage.Bucket) error {
			return b.Delete(t.Context(), "a/bbbbbbbb") // 8-byte segment
		}, nil},
		{"segment over the backend's segment limit", caps, func(b *storage.Bucket) error {
			return b.Delete(t.Context(), "a/bbbbbbbbb") // 9-byte segment
		}, storage.ErrInvalidArgument},
		{"first segment over the segment limit", caps, func(b *storage.Bucket) error {
			return b.Delete(t.Context(), "aaaaaaaaa/b")
		}, storage.ErrInvalidArgument},
		{"create-only put without ConditionalCreate", storage.Capabilities{ConditionalReplace: true}, func(b *storage.Bucket) error {
			_, err := b.Put(t.Context(), "k", ok, storage.PutOptions{Condition: storage.Condition{IfNotExists: true}, Size: 1})
			return err
		}, storage.ErrUnsupported},
		{"create-only put with ConditionalCreate", storage.Capabilities{ConditionalCreate: true}, func(b *storage.Bucket) error {
			_, err := b.Put(t.Context(), "k", ok, storage.PutOptions{Condition: storage.Condition{IfNotExists: true}, Size: 1})
			return err
		}, nil},
		{"if-version put without ConditionalReplace", storage.Capabilities{ConditionalCreate: true}, func(b *storage.Bucket) error {
			_, err := b.Put(t.Context(), "k", ok, storage.PutOptions{Condition: storage.Condition{IfVersion: "v1"}, Size: 1})
			return err
		}, storage.ErrUnsupported},
		{"move onto itself", storage.Capabilities{}, func(b *storage.Bucket) error {
			_, err := b.Move(t.Context(), "a/b", "a/b")
			return err
		}, storage.ErrInvalidArgument},
		{"move onto itself in other case, case-insensitive backend", caps, func(b *storage.Bucket) error {
			_, err := b.Move(t.Context(), "a/B", "a/b")
			return err
		}, storage.ErrInvalidArgument},
		{"move to another case, case-sensitive backend", storage.Capabilities{}, func(b *storage.Bucket) error {
			_, err := b.Move(t.Context(), "a/B", "a/b")
			return err
		}, nil},
		{"append at a negative offset", storage.Capabilities{}, func(b *storage.Bucket) error {
			_, err := b.Append(t.Context(), "k", -1, ok, "")
			return err
		}, storage.ErrInvalidArgument},
		{"append at offset zero", storage.Capabilities{}, func(b *storage.Bucket) error {
			_, err := b.Append(t.Context(), "k", 0, ok, "")
			return err
		}, nil},
		{"compose of no sources", storage.Capabilities{}, func(b *storage.Bucket) error {
			_, err := b.Compose(t.Context(), "d", nil)
			return err
		}, storage.ErrInvalidArgument},
		{"compose onto one of its sources", storage.Capabilities{}, func(b *storage.Bucket) error {
			_, err := b.Compose(t.Context(), "d", []string{"s1", "d"})
			return err
		}, storage.ErrInvalidArgument},
		{"compose onto a source in other case, case-insensitive backend", caps, func(b *storage.Bucket) error {
			_, err := b.Compose(t.Context(), "d", []string{"s1", "D"})
			return err
		}, storage.ErrInvalidArgument},
		{"compose at the backend's source limit", storage.Capabilities{}, func(b *storage.Bucket) error {
			_, err := b.Compose(t.Context(), "d", []string{"s1", "s2", "s3"})
			return err
		}, nil},
		{"compose over the backend's source limit", storage.Capabilities{}, func(b *storage.Bucket) error {
			_, err := b.Compose(t.Context(), "d", []string{"s1", "s2", "s3", "s4"})
			return err
		}, storage.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &fullRecorder{recorder: recorder{caps: tc.caps}, maxSources: 3}
			err := tc.call(storage.NewBucket(d))
			switch {
			case tc.want == nil && (err != nil || d.calls != 1):
				t.Fatalf("got %v with %d driver calls; want the call passed to the driver", err, d.calls)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v; want %v", err, tc.want)
			case tc.want != nil && d.calls != 0:
				t.Fatalf("refused with %v, but only after %d driver calls", err, d.calls)
			}
		})
	}
}

// TestBucketOptionalOperationsWithoutTheDriverExtension: a driver without Mover,
// Appender or Composer answers ErrUnsupported, even when a check further down (the
// compose limit) would have needed the extension to answer.
func TestBucketOptionalOperationsWithoutTheDriverExtension(t *testing.T) {
	d := &recorder{}
	b := storage.NewBucket(d)
	ctx := t.Context()
	if _, err := b.Move(ctx, "a", "b"); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("Move: %v; want ErrUnsupported", err)
	}
	if _, err := b.Append(ctx, "a", 0, strings.NewReader("x"), ""); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("Append: %v; want ErrUnsupported", err)
	}
	if _, err := b.Compose(ctx, "d", []string{"a", "b"}); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("Compose: %v; want ErrUnsupported", err)
	}
	if d.calls != 0 {
		t.Errorf("%d driver calls", d.calls)
	}
}
