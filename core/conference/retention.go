package conference

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// Retention configures when conferences and stray files are removed.
type Retention struct {
	// DefaultExpiry of a conference created without one (the original: 14 days).
	DefaultExpiry time.Duration
	// Grace after expiry before the conference and its content are deleted (0–365
	// days; the original's default: 14 days).
	Grace time.Duration
	// OrphanAge: content stored but referenced by no slide set or handout (for
	// example after a crash between upload and reference) is removed once older.
	OrphanAge time.Duration
	// UploadAge: parts of unfinished uploads are removed once older, and so are the
	// hidden leftovers of writes that died with their process (storage.LeftoverRemover:
	// S3's incomplete multipart uploads, the temporary files of disk and SMB puts).
	UploadAge time.Duration
	// LeaseTTL: how long one server's clean-up lease lasts.
	LeaseTTL time.Duration
}

// DefaultRetention: 14 days + 14 days grace; orphans and stale uploads after a day.
func DefaultRetention() Retention {
	return Retention{DefaultExpiry: 14 * 24 * time.Hour, Grace: 14 * 24 * time.Hour,
		OrphanAge: 24 * time.Hour, UploadAge: 24 * time.Hour, LeaseTTL: 10 * time.Minute}
}

// withDefaults fills the ages that must not be zero with their defaults. A zero
// OrphanAge or UploadAge would have the sweep remove content stored a moment ago
// and not yet referenced, the parts of uploads in progress and the leftovers of
// writes still running; a zero LeaseTTL would let every server sweep at once. Grace
// is kept as given: 0 means delete right at expiry.
func (r Retention) withDefaults() Retention {
	d := DefaultRetention()
	if r.DefaultExpiry <= 0 {
		r.DefaultExpiry = d.DefaultExpiry
	}
	if r.OrphanAge <= 0 {
		r.OrphanAge = d.OrphanAge
	}
	if r.UploadAge <= 0 {
		r.UploadAge = d.UploadAge
	}
	if r.LeaseTTL <= 0 {
		r.LeaseTTL = d.LeaseTTL
	}
	return r
}

// SweepReport says what a sweep removed.
type SweepReport struct {
	Skipped            bool     // another server holds the clean-up lease
	ConferencesRemoved []string // expired past their grace period
	UnfinishedRemoved  []string // half created or half deleted when a process stopped; removal finished
	OrphansRemoved     int      // unreferenced content files
	UploadsRemoved     int      // stale upload parts
	LeftoversRemoved   int      // leftovers of dead writes in the storage (storage.LeftoverRemover)
}

// leaseKey is the file in the metadata root that coordinates clean-up among the
// servers of a pool, as in the original.
const leaseKey = layout.MetadataRoot + "/cleanup.lease"

// Sweep removes conferences past expiry + grace, orphaned content, stale uploads and
// the storage's leftovers of dead writes. It also finishes what a crash cut midway,
// where the index names a conference whose conference.xml is gone:
//   - a delete, recognised by its marker (layout.DeletingMarker), is finished;
//   - an index entry with nothing else of the conference (a create that stopped
//     between its two writes, or a delete between its last two steps) is removed once
//     it is older than UploadAge, so that a create under way is never taken for one.
//
// Anything else, files without conference.xml and without a marker (damage, or a
// restore under way), is never removed: the sweep reports it as an error.
//
// Several servers may run it at once: a lease taken with conditional writes lets one
// of them work at a time, and every step is an idempotent delete, so even two sweeps
// overlapping (a lease that expired mid-sweep) remove nothing twice and nothing that
// is still referenced.
func (e *Engine) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	release, ok, err := e.takeLease(ctx)
	if err != nil || !ok {
		rep.Skipped = !ok
		return rep, err
	}
	defer release()
	now := e.now()
	ids, err := e.conferenceIDs(ctx)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, id := range ids {
		if err := e.sweepConference(ctx, id, now, &rep); err != nil {
			errs = append(errs, fmt.Errorf("conference %q: %w", id, err))
		}
	}
	// A write of the storage that began that long ago and has not finished never
	// will: its process died (the longest part of an upload is far shorter).
	n, _, err := e.bucket.RemoveLeftovers(ctx, now.Add(-e.cfg.Retention.UploadAge))
	rep.LeftoversRemoved = n
	if err != nil {
		errs = append(errs, fmt.Errorf("leftovers of unfinished writes: %w", err))
	}
	return rep, errors.Join(errs...)
}

func (e *Engine) sweepConference(ctx context.Context, id string, now time.Time, rep *SweepReport) error {
	loc, entry, err := e.locateEntry(ctx, id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
	info, _, err := e.readConference(ctx, loc)
	if errors.Is(err, storage.ErrNotFound) {
		trace, terr := e.headlessTrace(ctx, loc)
		switch {
		case terr != nil:
			return terr
		case trace == traceOther:
			return fmt.Errorf("conference.xml is missing, but the conference's folders hold files (damage, or a restore not finished); left alone: %w", err)
		case trace == traceCreate && !entry.ModTime.Before(now.Add(-e.cfg.Retention.UploadAge)):
			return nil // perhaps a create still under way
		}
		e.log.Info("finishing the removal of a conference whose create or delete stopped midway", "conference", id)
		if err := e.DeleteConference(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		rep.UnfinishedRemoved = append(rep.UnfinishedRemoved, id)
		return nil
	}
	if err != nil {
		return err
	}
	if !now.Before(info.Expires.Add(e.cfg.Retention.Grace)) {
		if err := e.DeleteConference(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		rep.ConferencesRemoved = append(rep.ConferencesRemoved, id)
		return nil
	}
	n, err := e.collectOrphans(ctx, id, now)
	rep.OrphansRemoved += n
	if err != nil {
		return err
	}
	n, err = e.removeStale(ctx, uploadPrefix(id), now.Add(-e.cfg.Retention.UploadAge))
	rep.UploadsRemoved += n
	return err
}

// collectOrphans removes content files older than OrphanAge that no slide set and no
// live handout references. Holding the conference lock while deciding keeps a
// concurrent reference from landing between the check and the delete.
func (e *Engine) collectOrphans(ctx context.Context, id string, now time.Time) (int, error) {
	c, err := e.lockOpen(ctx, id, false) // the sweep is no use: CloseIdle may close it
	if err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	referenced, err := e.referenced(ctx, c)
	if err != nil {
		return 0, err
	}
	cutoff := now.Add(-e.cfg.Retention.OrphanAge)
	prefix := c.loc.ContentPrefix()
	var orphans []storage.Attributes
	for attrs, err := range e.bucket.List(ctx, prefix) {
		if err != nil {
			return 0, err
		}
		if !referenced[attrs.Key[len(prefix):]] && attrs.ModTime.Before(cutoff) {
			orphans = append(orphans, attrs)
		}
	}
	removed := 0
	for _, o := range orphans {
		if err := e.deleteContent(ctx, c, o.Key[len(prefix):]); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return removed, err
		}
		removed++
	}
	if removed > 0 {
		e.log.Info("orphaned content removed", "conference", id, "files", removed)
	}
	return removed, nil
}

// referenced returns the names of content referenced by the conference's slide sets
// and live handouts. c.mu held.
func (e *Engine) referenced(ctx context.Context, c *conf) (map[string]bool, error) {
	refs := map[string]bool{}
	add := func(rs []metadata.ContentRef) {
		for _, r := range rs {
			refs[r.Name] = true
		}
	}
	sets, err := slideSets.loadAll(ctx, c)
	if err != nil {
		return nil, err // never guess: an unreadable set might reference anything
	}
	for _, set := range sets {
		add(set.ContentRefs())
	}
	fss, err := handouts.loadAll(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, fs := range fss {
		if !fs.Deleted {
			add(fs.ContentRefs())
		}
	}
	return refs, nil
}

func (e *Engine) removeStale(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	var stale []string
	for attrs, err := range e.bucket.List(ctx, prefix) {
		if err != nil {
			return 0, err
		}
		if attrs.ModTime.Before(cutoff) {
			stale = append(stale, attrs.Key)
		}
	}
	for i, k := range stale {
		if err := e.bucket.Delete(ctx, k); err != nil {
			return i, err
		}
	}
	return len(stale), nil
}

// maxLeaseSize bounds the lease file when it is read: it holds a time and a holder.
const maxLeaseSize = 1 << 10

// takeLease takes the clean-up lease: created with a create-only put, and taken over
// from an expired holder with replace-if-version, so that of racing servers exactly
// one gets it.
func (e *Engine) takeLease(ctx context.Context) (release func(), ok bool, err error) {
	var holder [8]byte
	if _, err := rand.Read(holder[:]); err != nil {
		return nil, false, err
	}
	body := []byte(strconv.FormatInt(e.now().Add(e.cfg.Retention.LeaseTTL).UnixMilli(), 10) + " " + hex.EncodeToString(holder[:]))
	caps := e.bucket.Capabilities()
	cond := storage.Condition{IfNotExists: caps.ConditionalCreate}
	attrs, err := e.bucket.PutBytes(ctx, leaseKey, body, cond)
	if errors.Is(err, storage.ErrPrecondition) {
		cur, curAttrs, rerr := e.bucket.ReadAllLimit(ctx, leaseKey, maxLeaseSize)
		if tl := (*storage.TooLargeError)(nil); rerr != nil && !errors.As(rerr, &tl) {
			return nil, false, rerr
		} // else one too large to be ours has no expiry: taken over below

		expiry, _, _ := strings.Cut(string(cur), " ")
		ms, perr := strconv.ParseInt(expiry, 10, 64)
		if perr == nil && e.now().UnixMilli() < ms {
			return nil, false, nil // held by a live server
		}
		takeover := storage.Condition{IfVersion: curAttrs.Version}
		if !caps.ConditionalReplace {
			takeover = storage.Condition{}
		}
		attrs, err = e.bucket.PutBytes(ctx, leaseKey, body, takeover)
		if errors.Is(err, storage.ErrPrecondition) {
			return nil, false, nil // another server took it over first
		}
	}
	if err != nil {
		return nil, false, err
	}
	release = func() {
		// Release only our own lease: if it expired and was taken over, leave it.
		cur, curAttrs, err := e.bucket.ReadAllLimit(context.WithoutCancel(ctx), leaseKey, maxLeaseSize)
		if err == nil && curAttrs.Version == attrs.Version && slices.Equal(cur, body) {
			_ = e.bucket.Delete(context.WithoutCancel(ctx), leaseKey)
		}
	}
	return release, true, nil
}

// headlessKind is what the storage holds of a conference whose index entry is there
// but whose conference.xml is not.
type headlessKind int

const (
	traceOther  headlessKind = iota // files, and no marker: damage, or a restore under way
	traceDelete                     // the marker of a delete that did not finish
	traceCreate                     // the index entry alone
)

func (e *Engine) headlessTrace(ctx context.Context, loc layout.Conference) (headlessKind, error) {
	_, err := e.bucket.Stat(ctx, loc.DeletingMarker())
	if err == nil {
		return traceDelete, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return traceOther, err
	}
	for _, prefix := range []string{loc.MetadataPrefix(), loc.ContentPrefix(), uploadPrefix(loc.ID)} {
		for _, err := range e.bucket.List(ctx, prefix) {
			if err != nil {
				return traceOther, err
			}
			return traceOther, nil // one file is enough
		}
	}
	return traceCreate, nil
}
