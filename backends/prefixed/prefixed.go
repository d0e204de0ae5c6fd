// Package prefixed is a storage.Driver wrapper that keeps all of its keys under one
// fixed prefix of another driver, so that several tenants (or tests) can share one
// bucket or folder without seeing each other's objects.
//
// Key k is stored as prefix+k; List strips the prefix again, and errors report the
// caller's key, not the stored one. The package knows only the storage contract, not
// any concrete backend.
package prefixed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/lectern/lectern/core/storage"
)

// Driver maps keys under a prefix of an inner driver. It owns the inner driver: Close
// closes it.
type Driver struct {
	inner  storage.Driver
	prefix string
}

var _ storage.Driver = (*Driver)(nil)

// New wraps inner. prefix must be a valid key followed by a slash ("tenant/",
// "a/b/"), so that every valid key under it is again a valid key of the inner driver.
func New(inner storage.Driver, prefix string) (*Driver, error) {
	if !strings.HasSuffix(prefix, "/") {
		return nil, storage.NewError(storage.ErrInvalidArgument, "prefixed", "", fmt.Errorf("prefix %q must end with a slash", prefix))
	}
	if err := storage.ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return nil, fmt.Errorf("prefixed: %w", err)
	}
	// Keys that are valid for callers must still fit the inner driver once prefixed.
	if limit := innerLimit(inner); len(prefix) >= limit {
		return nil, storage.NewError(storage.ErrInvalidArgument, "prefixed", "", fmt.Errorf("prefix of %d bytes leaves no room under the key limit of %d", len(prefix), limit))
	}
	return &Driver{inner: inner, prefix: prefix}, nil
}

func innerLimit(d storage.Driver) int {
	if l := d.Capabilities().MaxKeyLength; l > 0 {
		return l
	}
	return storage.MaxKeyLength
}

// outer rewrites the key of a classified error from the stored key to the caller's.
func (d *Driver) outer(err error) error {
	var se *storage.Error
	if err == nil || !errors.As(err, &se) || !strings.HasPrefix(se.Key, d.prefix) {
		return err
	}
	c := *se
	c.Key = strings.TrimPrefix(se.Key, d.prefix)
	return &c
}

func (d *Driver) attrs(a storage.Attributes) storage.Attributes {
	a.Key = strings.TrimPrefix(a.Key, d.prefix)
	return a
}

// Put implements storage.Driver.
func (d *Driver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	a, err := d.inner.Put(ctx, d.prefix+key, r, opts)
	if err != nil {
		return storage.Attributes{}, d.outer(err)
	}
	return d.attrs(a), nil
}

// Get implements storage.Driver.
func (d *Driver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := d.inner.Get(ctx, d.prefix+key, offset, length)
	if err != nil {
		return nil, storage.Attributes{}, d.outer(err)
	}
	return rc, d.attrs(a), nil
}

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	a, err := d.inner.Stat(ctx, d.prefix+key)
	if err != nil {
		return storage.Attributes{}, d.outer(err)
	}
	return d.attrs(a), nil
}

// Delete implements storage.Driver.
func (d *Driver) Delete(ctx context.Context, key string) error {
	return d.outer(d.inner.Delete(ctx, d.prefix+key))
}

// List implements storage.Driver. Prefixing every key with the same string keeps the
// inner driver's byte order, so the entries need no re-sorting.
func (d *Driver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		for a, err := range d.inner.List(ctx, d.prefix+prefix) {
			if err != nil {
				yield(storage.Attributes{}, d.outer(err))
				return
			}
			if !yield(d.attrs(a), nil) {
				return
			}
		}
	}
}

// Capabilities implements storage.Driver: the inner driver's, with the key limit
// reduced by the prefix.
func (d *Driver) Capabilities() storage.Capabilities {
	c := d.inner.Capabilities()
	c.MaxKeyLength = innerLimit(d.inner) - len(d.prefix)
	return c
}

// Close implements storage.Driver.
func (d *Driver) Close() error { return d.outer(d.inner.Close()) }
