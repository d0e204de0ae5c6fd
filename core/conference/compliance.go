package conference

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// Compliance copies are plain (unencrypted) copies of metadata and uploaded content
// under the compliance root, with the same layout as the other roots. Unlike the
// metadata, a slide set's compliance copy keeps the slides that were deleted from it,
// marked deleted="true". They are written before the change is journaled, so that
// with Compliance.Required a failed copy fails the change and nothing is
// acknowledged that compliance did not see.

const deletedAttr = "deleted"

func (e *Engine) complianceFailed(ctx context.Context, what string, err error) error {
	if e.cfg.Compliance.Required {
		return fmt.Errorf("compliance copy of %s: %w", what, err)
	}
	e.log.WarnContext(ctx, "compliance copy failed", "what", what, "err", err)
	return nil
}

func (e *Engine) complianceSlideSet(ctx context.Context, c *conf, set *metadata.SlideSet) error {
	if !e.cfg.Compliance.Enabled {
		return nil
	}
	key := c.loc.CompliancePrefix() + "set-" + set.ID + ".xml"
	copySet, err := metadata.UnmarshalSlideSet(mustMarshal(set))
	if err != nil {
		return e.complianceFailed(ctx, key, err)
	}
	old, _, err := e.bucket.ReadAll(ctx, key)
	switch {
	case err == nil:
		if prev, perr := metadata.UnmarshalSlideSet(old); perr == nil {
			keepDeleted(copySet, prev)
		}
	case !errors.Is(err, storage.ErrNotFound):
		return e.complianceFailed(ctx, key, err)
	}
	data, err := copySet.Marshal()
	if err == nil {
		_, err = e.bucket.PutBytes(ctx, key, data, storage.Condition{})
	}
	if err != nil {
		return e.complianceFailed(ctx, key, err)
	}
	return nil
}

func mustMarshal(set *metadata.SlideSet) []byte {
	data, err := set.Marshal()
	if err != nil {
		return nil // UnmarshalSlideSet then reports the problem
	}
	return data
}

// keepDeleted appends to set every slide of prev that set no longer has, marked
// deleted.
func keepDeleted(set, prev *metadata.SlideSet) {
	for _, old := range prev.Slides {
		id := old.Base().ID
		if id == "" || set.Index(id) >= 0 {
			continue
		}
		b := old.Base()
		if !hasAttr(b, deletedAttr) {
			b.Extra = append(b.Extra, xmlAttr(deletedAttr, "true"))
		}
		set.Slides = append(set.Slides, old)
	}
}

func (e *Engine) complianceHandout(ctx context.Context, c *conf, fs *metadata.FileSet, data []byte) error {
	if !e.cfg.Compliance.Enabled {
		return nil
	}
	key := c.loc.CompliancePrefix() + "ft/fileset-" + fs.ID + ".xml"
	if _, err := e.bucket.PutBytes(ctx, key, data, storage.Condition{}); err != nil {
		return e.complianceFailed(ctx, key, err)
	}
	return nil
}

// compliancePlainName turns x<hex>.epng into x<hex>.png and <hex>.blb into <hex>.bin.
func compliancePlainName(name string) string {
	if stem, ok := strings.CutSuffix(name, ".blb"); ok {
		return stem + ".bin"
	}
	if i := strings.LastIndex(name, ".e"); i > 0 {
		return name[:i] + "." + name[i+2:]
	}
	return name + ".bin"
}

// FinishStored completes what a store left undone when it was cut short after the
// content file was in place (a crash, a lost answer), for callers that recognise such
// a file and count it as stored (the tus endpoint's retries): the compliance copy,
// when compliance is on and the copy is missing. With compliance required, a copy
// that cannot be written fails the call, as it fails a store: nothing is
// acknowledged that compliance did not see.
func (e *Engine) FinishStored(ctx context.Context, confID string, st Stored) error {
	if !e.cfg.Compliance.Enabled {
		return nil
	}
	if err := layout.ValidateContentName(st.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	c, err := e.acquire(ctx, confID)
	if err != nil {
		return err
	}
	key := c.loc.CompliancePrefix() + "content/" + compliancePlainName(st.Name)
	_, err = e.bucket.Stat(ctx, key)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, storage.ErrNotFound):
		return e.complianceFailed(ctx, key, err)
	}
	e.log.Info("compliance copy of content stored before an interruption written now", "conference", confID, "content", st.Name)
	return e.complianceContent(ctx, c, st)
}

func (e *Engine) complianceContent(ctx context.Context, c *conf, st Stored) error {
	if !e.cfg.Compliance.Enabled {
		return nil
	}
	key := c.loc.CompliancePrefix() + "content/" + compliancePlainName(st.Name)
	rc, _, err := openEncrypted(ctx, e.bucket, c.loc.ContentKey(st.Name), st.Key, 0, -1)
	if err != nil {
		return e.complianceFailed(ctx, key, err)
	}
	defer rc.Close()
	if _, err := e.bucket.Put(ctx, key, io.Reader(rc), storage.PutOptions{Size: st.Size}); err != nil {
		return e.complianceFailed(ctx, key, err)
	}
	return nil
}

func hasAttr(b *metadata.SlideBase, name string) bool {
	for _, a := range b.Extra {
		if a.Name.Local == name {
			return true
		}
	}
	return false
}

func xmlAttr(name, value string) xml.Attr { return xml.Attr{Name: xml.Name{Local: name}, Value: value} }
