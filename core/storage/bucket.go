package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// Bucket is the portable handle the rest of Lectern uses. It wraps a Driver and does
// the checks that are the same for every backend, once, before any I/O.
type Bucket struct {
	driver Driver
	caps   Capabilities
}

// NewBucket wraps a driver.
func NewBucket(d Driver) *Bucket {
	return &Bucket{driver: d, caps: d.Capabilities()}
}

// Driver returns the wrapped driver (for wrappers and diagnostics).
func (b *Bucket) Driver() Driver { return b.driver }

// Capabilities returns the driver's declared capabilities.
func (b *Bucket) Capabilities() Capabilities { return b.caps }

func (b *Bucket) checkKey(op, key string) error {
	if err := ValidateKey(key); err != nil {
		return relabel(err, op)
	}
	if b.caps.MaxKeyLength > 0 && len(key) > b.caps.MaxKeyLength {
		return NewError(ErrInvalidArgument, op, "", fmt.Errorf("key is %d bytes, over this backend's limit of %d", len(key), b.caps.MaxKeyLength))
	}
	if b.caps.MaxSegmentLength > 0 {
		for seg := range strings.SplitSeq(key, "/") {
			if len(seg) > b.caps.MaxSegmentLength {
				return NewError(ErrInvalidArgument, op, "", fmt.Errorf("key has a segment of %d bytes, over this backend's limit of %d", len(seg), b.caps.MaxSegmentLength))
			}
		}
	}
	return nil
}

func relabel(err error, op string) error {
	var se *Error
	if errors.As(err, &se) {
		c := *se
		c.Op = op
		return &c
	}
	return err
}

// Put stores r under key. See Driver.Put.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Attributes, error) {
	if err := b.checkKey("put", key); err != nil {
		return Attributes{}, err
	}
	if r == nil {
		return Attributes{}, NewError(ErrInvalidArgument, "put", key, errorString("nil reader"))
	}
	if opts.IfNotExists && opts.IfVersion != "" {
		return Attributes{}, NewError(ErrInvalidArgument, "put", key, errorString("IfNotExists and IfVersion are mutually exclusive"))
	}
	if opts.IfNotExists && !b.caps.ConditionalCreate || opts.IfVersion != "" && !b.caps.ConditionalReplace {
		return Attributes{}, NewError(ErrUnsupported, "put", key, errorString("conditional put"))
	}
	if opts.Size < -1 {
		return Attributes{}, NewError(ErrInvalidArgument, "put", key, fmt.Errorf("size %d", opts.Size))
	}
	if err := ctx.Err(); err != nil {
		return Attributes{}, err
	}
	return b.driver.Put(ctx, key, r, opts)
}

// PutBytes is Put of a byte slice with its size known.
func (b *Bucket) PutBytes(ctx context.Context, key string, data []byte, cond Condition) (Attributes, error) {
	return b.Put(ctx, key, bytes.NewReader(data), PutOptions{Condition: cond, Size: int64(len(data))})
}

// Get opens a range of the object: length -1 reads to the end.
func (b *Bucket) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Attributes, error) {
	if err := b.checkKey("get", key); err != nil {
		return nil, Attributes{}, err
	}
	if offset < 0 || length < -1 {
		return nil, Attributes{}, NewError(ErrInvalidArgument, "get", key, fmt.Errorf("range offset %d length %d", offset, length))
	}
	if err := ctx.Err(); err != nil {
		return nil, Attributes{}, err
	}
	return b.driver.Get(ctx, key, offset, length)
}

// ReadAll returns the whole object. For an object whose size the caller bounds (a
// file it wrote itself and reads back), ReadAllLimit keeps a damaged or planted huge
// object out of memory.
func (b *Bucket) ReadAll(ctx context.Context, key string) ([]byte, Attributes, error) {
	return b.ReadAllLimit(ctx, key, -1)
}

// TooLargeError is ReadAllLimit's answer for an object over its limit. It is not a
// storage category: the storage worked, and it is the caller who knows what an
// object that large means (usually: damage).
type TooLargeError struct {
	Key   string
	Size  int64 // the size the backend reported, or -1 if the bytes ran past the limit
	Limit int64
}

func (e *TooLargeError) Error() string {
	if e.Size >= 0 {
		return fmt.Sprintf("%q is %d bytes, over the limit of %d", e.Key, e.Size, e.Limit)
	}
	return fmt.Sprintf("%q is over the limit of %d bytes", e.Key, e.Limit)
}

// ReadAllLimit returns the whole object if it holds at most limit bytes (no limit if
// limit is negative), and a *TooLargeError otherwise. It reads no more than limit+1
// bytes, whatever size the backend reports: an object may change between the answer
// and the read.
func (b *Bucket) ReadAllLimit(ctx context.Context, key string, limit int64) ([]byte, Attributes, error) {
	rc, attrs, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, attrs, err
	}
	defer rc.Close()
	var r io.Reader = rc
	if limit >= 0 {
		if attrs.Size > limit {
			return nil, attrs, &TooLargeError{Key: key, Size: attrs.Size, Limit: limit}
		}
		r = io.LimitReader(rc, limit+1)
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(attrs.Size, 0)))
	n, err := buf.ReadFrom(r)
	if err != nil {
		return nil, attrs, err
	}
	if limit >= 0 && n > limit {
		return nil, attrs, &TooLargeError{Key: key, Size: -1, Limit: limit}
	}
	return buf.Bytes(), attrs, nil
}

// Stat returns the object's attributes.
func (b *Bucket) Stat(ctx context.Context, key string) (Attributes, error) {
	if err := b.checkKey("stat", key); err != nil {
		return Attributes{}, err
	}
	if err := ctx.Err(); err != nil {
		return Attributes{}, err
	}
	return b.driver.Stat(ctx, key)
}

// Delete removes the object; deleting a missing key succeeds.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.checkKey("delete", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.driver.Delete(ctx, key)
}

// List yields the objects under prefix in ascending key order.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[Attributes, error] {
	if err := ValidatePrefix(prefix); err != nil {
		return func(yield func(Attributes, error) bool) { yield(Attributes{}, relabel(err, "list")) }
	}
	return b.driver.List(ctx, prefix)
}

// Move renames src to dst without copying, on drivers that implement Mover (see
// there); other drivers answer ErrUnsupported before anything is done.
func (b *Bucket) Move(ctx context.Context, src, dst string) (Attributes, error) {
	if err := b.checkKey("move", src); err != nil {
		return Attributes{}, err
	}
	if err := b.checkKey("move", dst); err != nil {
		return Attributes{}, err
	}
	if src == dst || b.caps.CaseInsensitive && strings.EqualFold(src, dst) {
		return Attributes{}, NewError(ErrInvalidArgument, "move", src, errorString("source and destination are the same key"))
	}
	m, ok := b.driver.(Mover)
	if !ok {
		return Attributes{}, NewError(ErrUnsupported, "move", src, errorString("this backend cannot rename objects"))
	}
	if err := ctx.Err(); err != nil {
		return Attributes{}, err
	}
	return m.Move(ctx, src, dst)
}

// CanMove reports whether Move is supported.
func (b *Bucket) CanMove() bool {
	_, ok := b.driver.(Mover)
	return ok
}

// Append writes r after the first offset bytes of the existing object key, on
// drivers that implement Appender (see there); other drivers answer ErrUnsupported
// before anything is done.
func (b *Bucket) Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (Attributes, error) {
	if err := b.checkKey("append", key); err != nil {
		return Attributes{}, err
	}
	if offset < 0 {
		return Attributes{}, NewError(ErrInvalidArgument, "append", key, errorString("negative offset"))
	}
	if r == nil {
		return Attributes{}, NewError(ErrInvalidArgument, "append", key, errorString("nil reader"))
	}
	a, ok := b.driver.(Appender)
	if !ok {
		return Attributes{}, NewError(ErrUnsupported, "append", key, errorString("this backend cannot append to objects"))
	}
	if err := ctx.Err(); err != nil {
		return Attributes{}, err
	}
	return a.Append(ctx, key, offset, r, ifVersion)
}

// CanAppend reports whether Append is supported.
func (b *Bucket) CanAppend() bool {
	_, ok := b.driver.(Appender)
	return ok
}

// Compose creates dst from the bytes of srcs, on drivers that implement Composer
// (see there); other drivers answer ErrUnsupported before anything is done.
func (b *Bucket) Compose(ctx context.Context, dst string, srcs []string) (Attributes, error) {
	if err := b.checkKey("compose", dst); err != nil {
		return Attributes{}, err
	}
	if len(srcs) == 0 {
		return Attributes{}, NewError(ErrInvalidArgument, "compose", dst, errorString("no sources"))
	}
	for _, src := range srcs {
		if err := b.checkKey("compose", src); err != nil {
			return Attributes{}, err
		}
		if src == dst || b.caps.CaseInsensitive && strings.EqualFold(src, dst) {
			return Attributes{}, NewError(ErrInvalidArgument, "compose", dst, errorString("the destination is one of the sources"))
		}
	}
	c, ok := b.driver.(Composer)
	if !ok {
		return Attributes{}, NewError(ErrUnsupported, "compose", dst, errorString("this backend cannot compose objects"))
	}
	if _, most := c.ComposeLimits(); most > 0 && len(srcs) > most {
		return Attributes{}, NewError(ErrInvalidArgument, "compose", dst, fmt.Errorf("%d sources, over this backend's limit of %d", len(srcs), most))
	}
	if err := ctx.Err(); err != nil {
		return Attributes{}, err
	}
	return c.Compose(ctx, dst, srcs)
}

// ComposeLimits returns the driver's Composer limits; ok is false without Composer.
func (b *Bucket) ComposeLimits() (minSourceSize int64, maxSources int, ok bool) {
	c, ok := b.driver.(Composer)
	if !ok {
		return 0, 0, false
	}
	minSourceSize, maxSources = c.ComposeLimits()
	return minSourceSize, maxSources, true
}

// RemoveLeftovers removes the leftovers of writes that began before the given time
// and never finished, on drivers that implement LeftoverRemover (see there); for
// other drivers it does nothing and ok is false.
func (b *Bucket) RemoveLeftovers(ctx context.Context, before time.Time) (removed int, ok bool, err error) {
	r, ok := b.driver.(LeftoverRemover)
	if !ok {
		return 0, false, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, true, err
	}
	removed, err = r.RemoveLeftovers(ctx, before)
	return removed, true, err
}

// Close closes the driver.
func (b *Bucket) Close() error { return b.driver.Close() }
