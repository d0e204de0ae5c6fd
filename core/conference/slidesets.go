package conference

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
)

// classify maps the metadata model's errors to the engine's categories.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, metadata.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, metadata.ErrMalformed), errors.Is(err, metadata.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	case errors.Is(err, metadata.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrLimit, err)
	}
	return err
}

// CreateSlideSet creates an empty slide set with a new id (aaa, aab, …).
func (e *Engine) CreateSlideSet(ctx context.Context, confID, name, createdBy string) (*metadata.SlideSet, error) {
	return change(ctx, e, confID, func(c *conf) (*metadata.SlideSet, error) {
		id, err := c.store.NextID(ctx, metastore.SlideSet)
		if err != nil {
			return nil, err
		}
		now := e.now().UTC().Truncate(time.Millisecond)
		set := &metadata.SlideSet{ID: id, Name: name, CreatedBy: createdBy, Created: now, Modified: now}
		if err := e.saveSet(ctx, c, set); err != nil {
			return nil, err
		}
		e.publish(confID, events.SlideSetCreated, events.Everyone, map[string]any{"slideset": id})
		return set, nil
	})
}

// saveSet writes the set's compliance copy, then journals the set. c.mu held.
// Marshal comes first and refuses a set that cannot be written (a mutation may have
// edited fields directly), so nothing unsavable is ever acknowledged.
func (e *Engine) saveSet(ctx context.Context, c *conf, set *metadata.SlideSet) error {
	data, err := set.Marshal()
	if err != nil {
		return classify(err)
	}
	if err := metadata.CheckWritable(data); err != nil {
		return classify(err)
	}
	if err := e.complianceSlideSet(ctx, c, set); err != nil {
		return err
	}
	return c.store.Put(ctx, slideSets.doc(set.ID), data)
}

// SlideSet returns a slide set.
func (e *Engine) SlideSet(ctx context.Context, confID, id string) (*metadata.SlideSet, error) {
	return read(ctx, e, confID, func(c *conf) (*metadata.SlideSet, error) { return slideSets.load(ctx, c, id) })
}

// SlideSetXML returns a slide set's XML as stored (decrypted).
func (e *Engine) SlideSetXML(ctx context.Context, confID, id string) ([]byte, error) {
	set, err := e.SlideSet(ctx, confID, id)
	if err != nil {
		return nil, err
	}
	return set.Marshal()
}

// ListSlideSets returns the conference's slide sets in id order.
func (e *Engine) ListSlideSets(ctx context.Context, confID string) ([]*metadata.SlideSet, error) {
	return read(ctx, e, confID, func(c *conf) ([]*metadata.SlideSet, error) { return slideSets.loadAll(ctx, c) })
}

// UpdateSlideSet applies mutate to the slide set and saves it: the change is
// journaled (durable) when UpdateSlideSet returns. Content references that mutate
// adds must name content stored in this conference, with a key that opens it.
func (e *Engine) UpdateSlideSet(ctx context.Context, confID, id string, mutate func(*metadata.SlideSet) error) (*metadata.SlideSet, error) {
	return change(ctx, e, confID, func(c *conf) (*metadata.SlideSet, error) {
		set, err := slideSets.load(ctx, c, id) // parsed afresh: mutate may change it
		if err != nil {
			return nil, err
		}
		before := set.ContentRefs() // values, unaffected by mutate
		if err := mutate(set); err != nil {
			return nil, classify(err)
		}
		set.ID = id
		set.Modified = e.now().UTC().Truncate(time.Millisecond)
		if err := e.checkNewRefs(ctx, c, before, set.ContentRefs()); err != nil {
			return nil, err
		}
		if err := e.saveSet(ctx, c, set); err != nil {
			return nil, err
		}
		e.publish(confID, events.SlideSetChanged, events.Everyone, map[string]any{"slideset": id})
		return set, nil
	})
}

// ReplaceSlideSetXML replaces a slide set with the given XML (same id).
func (e *Engine) ReplaceSlideSetXML(ctx context.Context, confID, id string, data []byte) (*metadata.SlideSet, error) {
	repl, err := metadata.UnmarshalSlideSet(data)
	if err != nil {
		return nil, classify(err)
	}
	if repl.ID != "" && repl.ID != id {
		return nil, fmt.Errorf("%w: the XML is slide set %q, not %q", ErrInvalidInput, repl.ID, id)
	}
	return e.UpdateSlideSet(ctx, confID, id, func(set *metadata.SlideSet) error {
		created, createdBy := set.Created, set.CreatedBy
		*set = *repl
		if set.Created.IsZero() {
			set.Created = created
		}
		if set.CreatedBy == "" {
			set.CreatedBy = createdBy
		}
		return nil
	})
}

func (e *Engine) checkNewRefs(ctx context.Context, c *conf, before, after []metadata.ContentRef) error {
	for _, ref := range after {
		if ref.IsZero() || slices.Contains(before, ref) {
			continue
		}
		if err := metadata.ValidateNewContentRef(ref); err != nil {
			return classify(err)
		}
		if _, err := e.verifyContent(ctx, c, ref); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSlideSet deletes a slide set. Its content files become unreferenced and are
// collected by the orphan sweep; the compliance copy, if any, keeps its slides.
func (e *Engine) DeleteSlideSet(ctx context.Context, confID, id string) error {
	_, err := change(ctx, e, confID, func(c *conf) (struct{}, error) {
		if _, err := slideSets.load(ctx, c, id); err != nil {
			return struct{}{}, err
		}
		if err := c.store.Delete(ctx, slideSets.doc(id)); err != nil {
			return struct{}{}, err
		}
		e.publish(confID, events.SlideSetDeleted, events.Everyone, map[string]any{"slideset": id})
		return struct{}{}, nil
	})
	return err
}
