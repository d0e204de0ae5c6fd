package conference

import (
	"context"
	"fmt"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
)

// docFamily describes one family of metadata documents (slide sets, handouts): how
// they are named in the metadata store and parsed, so that loading and listing are
// written once for both.
type docFamily[T any] struct {
	kind  metastore.Kind
	noun  string // for error messages
	parse func([]byte) (T, error)
}

var (
	slideSets = docFamily[*metadata.SlideSet]{kind: metastore.SlideSet, noun: "slide set", parse: metadata.UnmarshalSlideSet}
	handouts  = docFamily[*metadata.FileSet]{kind: metastore.Handout, noun: "handout", parse: metadata.UnmarshalFileSet}
)

func (f docFamily[T]) doc(id string) metastore.Doc { return metastore.Doc{Kind: f.kind, ID: id} }

// load reads and parses one document. c.mu held.
func (f docFamily[T]) load(ctx context.Context, c *conf, id string) (T, error) {
	var zero T
	if err := layout.ValidateSetID(id); err != nil {
		return zero, fmt.Errorf("%w: %s id %q: %w", ErrInvalidInput, f.noun, id, err)
	}
	data, err := c.store.Get(ctx, f.doc(id))
	if err != nil {
		return zero, fmt.Errorf("%s %q: %w", f.noun, id, err)
	}
	v, err := f.parse(data)
	if err != nil {
		// It decrypted, so it is this store's file: damage, or a newer version's.
		return zero, damaged(fmt.Sprintf("%s %q", f.noun, id), err)
	}
	return v, nil
}

// loadAll reads every document of the family in id order. c.mu held.
func (f docFamily[T]) loadAll(ctx context.Context, c *conf) ([]T, error) {
	ids, err := c.store.List(ctx, f.kind)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		v, err := f.load(ctx, c, id)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// read runs fn on the open conference under its lock, for the read-only getters.
func read[T any](ctx context.Context, e *Engine, confID string, fn func(*conf) (T, error)) (T, error) {
	c, err := e.lockOpen(ctx, confID, true)
	if err != nil {
		var zero T
		return zero, err
	}
	defer c.mu.Unlock()
	return fn(c)
}

// change runs fn on the open conference under its lock, once the conference accepts
// changes (it has neither ended nor expired): the prologue of every engine method
// that changes metadata.
func change[T any](ctx context.Context, e *Engine, confID string, fn func(*conf) (T, error)) (T, error) {
	return read(ctx, e, confID, func(c *conf) (T, error) {
		if err := e.writable(c); err != nil {
			var zero T
			return zero, err
		}
		return fn(c)
	})
}
