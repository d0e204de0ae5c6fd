package conference

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
)

// HandoutParams describe a handout to add: its stored blob and what the presenter
// said of the file.
type HandoutParams struct {
	Blob metadata.ContentRef
	// Size is the blob's plaintext size; 0 means "take it from the blob". Any other
	// value must match the stored blob: the record is what clients are told.
	Size             int64
	OriginalFilename string
	UploadedBy       string
	// FileCreated and FileModified are the file's own times, when the client knows
	// them; zero means the upload time.
	FileCreated, FileModified time.Time
}

// MaxHandoutFilename is the longest original file name of a handout, in bytes.
const MaxHandoutFilename = 255

// ValidateHandoutFilename checks a handout's original file name (1 to
// MaxHandoutFilename bytes of characters its XML record can carry), as AddHandout
// does: an upload that will become a handout checks it when it begins, not after all
// its bytes have come.
func ValidateHandoutFilename(name string) error {
	if name == "" || len(name) > MaxHandoutFilename {
		return fmt.Errorf("%w: a handout's original file name must be 1-%d bytes", ErrInvalidInput, MaxHandoutFilename)
	}
	if !metadata.ValidText(name) {
		// The name is not quoted: it is what is wrong, and may hold anything.
		return fmt.Errorf("%w: a handout's original file name must be UTF-8 without control characters (tab, LF and CR aside)", ErrInvalidInput)
	}
	return nil
}

// AddHandout records a handout (a fileset) for a stored blob.
func (e *Engine) AddHandout(ctx context.Context, confID string, p HandoutParams) (*metadata.FileSet, error) {
	if err := metadata.ValidateNewHandoutRef(p.Blob); err != nil {
		return nil, classify(err)
	}
	if err := ValidateHandoutFilename(p.OriginalFilename); err != nil {
		return nil, err
	}
	return change(ctx, e, confID, func(c *conf) (*metadata.FileSet, error) {
		// One blob backs at most one live handout: deleting a handout deletes its
		// blob, which would break a second handout on the same blob.
		existing, err := handouts.loadAll(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, fs := range existing {
			if !fs.Deleted && fs.Blob.Name == p.Blob.Name {
				return nil, fmt.Errorf("blob %s already backs handout %s: %w", p.Blob.Name, fs.ID, ErrInUse)
			}
		}
		size, err := e.verifyContent(ctx, c, p.Blob)
		if err != nil {
			return nil, err
		}
		if p.Size != 0 && p.Size != size {
			return nil, fmt.Errorf("%w: handout size %d is not the stored blob's %d bytes", ErrInvalidInput, p.Size, size)
		}
		id, err := c.store.NextID(ctx, metastore.Handout)
		if err != nil {
			return nil, err
		}
		now := e.now().UTC().Truncate(time.Millisecond)
		fs := &metadata.FileSet{ID: id, Blob: p.Blob, Size: size, Uploaded: now, UploadedBy: p.UploadedBy,
			OriginalFilename: p.OriginalFilename, Created: orNow(p.FileCreated, now), Modified: orNow(p.FileModified, now)}
		if err := e.saveHandout(ctx, c, fs); err != nil {
			return nil, err
		}
		e.publish(confID, events.HandoutAdded, events.Everyone, HandoutEvent(c.loc, fs))
		return fs, nil
	})
}

// HandoutEvent is the payload of handout events: id, name, URL and key.
func HandoutEvent(loc layout.Conference, fs *metadata.FileSet) map[string]any {
	ev := map[string]any{"handout": fs.ID, "filename": fs.OriginalFilename, "size": fs.Size, "deleted": fs.Deleted}
	if !fs.Deleted {
		ev["url"] = loc.ContentURLPath(fs.Blob.Name)
		ev["key"] = fs.Blob.Key
	}
	return ev
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

func (e *Engine) saveHandout(ctx context.Context, c *conf, fs *metadata.FileSet) error {
	data, err := fs.Marshal()
	if err != nil {
		return classify(err)
	}
	if err := metadata.CheckWritable(data); err != nil {
		return classify(err)
	}
	if err := e.complianceHandout(ctx, c, fs, data); err != nil {
		return err
	}
	return c.store.Put(ctx, handouts.doc(fs.ID), data)
}

// Handout returns one handout.
func (e *Engine) Handout(ctx context.Context, confID, id string) (*metadata.FileSet, error) {
	return read(ctx, e, confID, func(c *conf) (*metadata.FileSet, error) { return handouts.load(ctx, c, id) })
}

// Location returns where a conference lives in storage.
func (e *Engine) Location(ctx context.Context, confID string) (layout.Conference, error) {
	c, err := e.acquire(ctx, confID)
	if err != nil {
		return layout.Conference{}, err
	}
	return c.loc, nil
}

// ListHandouts returns the conference's handouts in id order, deleted ones included
// (marked file_deleted).
func (e *Engine) ListHandouts(ctx context.Context, confID string) ([]*metadata.FileSet, error) {
	return read(ctx, e, confID, func(c *conf) ([]*metadata.FileSet, error) { return handouts.loadAll(ctx, c) })
}

// DeleteHandout soft-deletes a handout: its record stays with file_deleted="true"
// (as in the original), and its blob is removed so it can no longer be downloaded.
func (e *Engine) DeleteHandout(ctx context.Context, confID, id string) (*metadata.FileSet, error) {
	return change(ctx, e, confID, func(c *conf) (*metadata.FileSet, error) {
		fs, err := handouts.load(ctx, c, id)
		if err != nil {
			return nil, err
		}
		if fs.Deleted {
			return fs, nil
		}
		fs.Deleted = true
		fs.Modified = e.now().UTC().Truncate(time.Millisecond)
		if err := e.saveHandout(ctx, c, fs); err != nil {
			return nil, err
		}
		// The record is durable first; a failed blob delete leaves an unreferenced blob
		// for the orphan sweep, never a record pointing at nothing. The quota given back
		// is what the blob occupied (a record's size may come from elsewhere, and another handout
		// may have named the same blob and removed it already).
		if err := e.deleteContent(ctx, c, fs.Blob.Name); err != nil && !errors.Is(err, ErrNotFound) {
			e.log.Warn("handout blob delete failed; the orphan sweep will collect it", "conference", confID, "handout", id, "err", err)
		}
		e.publish(confID, events.HandoutDeleted, events.Everyone, HandoutEvent(c.loc, fs))
		return fs, nil
	})
}
