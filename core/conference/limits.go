package conference

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/layout"
)

// Limits are the original system's content limits (all configurable). Sizes are
// plaintext bytes.
type Limits struct {
	MaxContentFile        int64 // per content file (decks, documents, media, snapshots)
	MaxHandoutFile        int64 // per handout
	MaxConferenceContent  int64 // content bytes per conference
	MaxConferenceHandouts int64 // handout bytes per conference
	MaxContentFiles       int   // content files per conference
	MaxHandoutFiles       int   // handouts per conference
}

// DefaultLimits are the original's defaults: 50 MB per file, 25 MB per handout,
// 100 MB of content and 100 MB of handouts per conference, at most 8052 content
// files and 30000 handouts. (MB is taken as MiB.)
func DefaultLimits() Limits {
	return Limits{
		MaxContentFile:        50 << 20,
		MaxHandoutFile:        25 << 20,
		MaxConferenceContent:  100 << 20,
		MaxConferenceHandouts: 100 << 20,
		MaxContentFiles:       8052,
		MaxHandoutFiles:       30000,
	}
}

// Purpose says what stored content is for; the two have separate limits.
type Purpose int

const (
	// SlideContent: images, decks, documents, media of slides.
	SlideContent Purpose = iota
	// HandoutContent: a file transfer (stored as <32 hex>.blb).
	HandoutContent
)

func (p Purpose) String() string {
	if p == HandoutContent {
		return "handout"
	}
	return "content"
}

func (l Limits) fileLimit(p Purpose) int64 {
	if p == HandoutContent {
		return l.MaxHandoutFile
	}
	return l.MaxContentFile
}

// usage tracks a conference's stored bytes and files against its limits. It is
// measured from storage when the conference is opened and kept up to date as
// content is stored and deleted; bytes are taken as they stream, so concurrent
// uploads cannot overrun a limit together.
type usage struct {
	mu    sync.Mutex
	bytes [2]int64
	files [2]int
}

func (e *Engine) measureUsage(ctx context.Context, loc layout.Conference) (*usage, error) {
	u := &usage{}
	for attrs, err := range e.bucket.List(ctx, loc.ContentPrefix()) {
		if err != nil {
			return nil, err
		}
		p := purposeOf(attrs.Key)
		size, err := encryption.PlaintextSize(attrs.Size)
		if err != nil {
			size = attrs.Size // not a complete file: count what it occupies
		}
		u.bytes[p] += size
		u.files[p]++
	}
	return u, nil
}

func (e *Engine) limitError(p Purpose, what string, limit int64) error {
	return fmt.Errorf("%w: %s over the %s limit of %d bytes", ErrLimit, p, what, limit)
}

// addFile takes a file slot.
func (e *Engine) addFile(u *usage, p Purpose) error {
	max := e.cfg.Limits.MaxContentFiles
	if p == HandoutContent {
		max = e.cfg.Limits.MaxHandoutFiles
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.files[p] >= max {
		return fmt.Errorf("%w: the conference already holds %d %s files, the limit", ErrLimit, u.files[p], p)
	}
	u.files[p]++
	return nil
}

// take reserves n more bytes of the conference's quota.
func (e *Engine) take(u *usage, p Purpose, n int64) error {
	max := e.cfg.Limits.MaxConferenceContent
	if p == HandoutContent {
		max = e.cfg.Limits.MaxConferenceHandouts
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bytes[p]+n > max {
		return e.limitError(p, "conference", max)
	}
	u.bytes[p] += n
	return nil
}

// release gives back bytes and, when file is true, a file slot.
func (u *usage) release(p Purpose, n int64, file bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bytes[p] -= n
	if file {
		u.files[p]--
	}
}

// quotaReader passes bytes through while taking them from the file and conference
// limits; it fails with ErrLimit as soon as either would be exceeded, before the
// offending bytes reach the encrypter.
type quotaReader struct {
	e       *Engine
	u       *usage
	p       Purpose
	r       io.Reader
	n       int64 // bytes passed through (and taken)
	maxFile int64
}

func (q *quotaReader) Read(b []byte) (int, error) {
	n, err := q.r.Read(b)
	if n > 0 {
		if q.n+int64(n) > q.maxFile {
			return 0, q.e.limitError(q.p, "file", q.maxFile)
		}
		if terr := q.e.take(q.u, q.p, int64(n)); terr != nil {
			return 0, terr
		}
		q.n += int64(n)
	}
	return n, err
}

// CheckUpload tells early (before any byte arrives) whether content of size bytes
// (-1: unknown) may be stored: the conference exists and accepts changes, and the
// size is within the per-file limit and the conference's remaining quota.
func (e *Engine) CheckUpload(ctx context.Context, confID string, p Purpose, size int64) error {
	return e.CheckUploadPending(ctx, confID, p, size, 0)
}

// CheckUploadPending is CheckUpload for a conference whose unfinished uploads of
// purpose p already hold pending bytes (their declared lengths, or what they received
// so far while their length is deferred): size plus pending must fit in the remaining
// quota, so that unfinished uploads and stored content together never exceed it.
func (e *Engine) CheckUploadPending(ctx context.Context, confID string, p Purpose, size, pending int64) error {
	c, err := e.lockOpen(ctx, confID, true)
	if err != nil {
		return err
	}
	err = e.writable(c)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if maxFile := e.cfg.Limits.fileLimit(p); size > maxFile {
		return e.limitError(p, "file", maxFile)
	}
	if n := max(size, 0) + max(pending, 0); n > 0 {
		if err := e.take(c.usage, p, n); err != nil {
			if pending > 0 {
				return fmt.Errorf("%w (counting %d bytes of the conference's unfinished uploads: finish or terminate them first)", err, pending)
			}
			return err
		}
		c.usage.release(p, n, false)
	}
	return nil
}

// UploadRoom returns how many more bytes of purpose p the conference's quota takes
// now, after its stored content (negative when it is over); it fails as CheckUpload
// does for an unknown conference or one that accepts no changes.
func (e *Engine) UploadRoom(ctx context.Context, confID string, p Purpose) (int64, error) {
	c, err := e.lockOpen(ctx, confID, true)
	if err != nil {
		return 0, err
	}
	err = e.writable(c)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	max := e.cfg.Limits.MaxConferenceContent
	if p == HandoutContent {
		max = e.cfg.Limits.MaxConferenceHandouts
	}
	c.usage.mu.Lock()
	defer c.usage.mu.Unlock()
	return max - c.usage.bytes[p], nil
}
