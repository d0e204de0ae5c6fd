package conference

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/sync/errgroup"

	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/keywrap"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
)

// Info describes a conference. It holds no key material.
type Info struct {
	ID        string    `json:"id"`
	Organizer string    `json:"organizer"`
	OrgHash   string    `json:"organizer_hash"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Ended     time.Time `json:"ended,omitzero"`
}

// Location returns where the conference lives in storage.
func (i Info) Location() layout.Conference { return layout.Conference{OrgHash: i.OrgHash, ID: i.ID} }

// CreateParams are the inputs of CreateConference.
type CreateParams struct {
	// ID of the conference; empty means a random one.
	ID string
	// Organizer is the organizer's URI (sip:…); required.
	Organizer string
	// Expires; zero means now + the default expiry.
	Expires time.Time
}

const maxOrganizerLength = 512

func validateOrganizer(uri string) error {
	if strings.TrimSpace(uri) == "" {
		return fmt.Errorf("%w: organizer URI is required", ErrInvalidInput)
	}
	if len(uri) > maxOrganizerLength {
		return fmt.Errorf("%w: organizer URI is longer than %d bytes", ErrInvalidInput, maxOrganizerLength)
	}
	if strings.ContainsFunc(uri, unicode.IsControl) {
		return fmt.Errorf("%w: organizer URI contains control characters", ErrInvalidInput)
	}
	return nil
}

func randomConferenceID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// CreateConference creates a conference with a fresh master key. The id is claimed
// with a create-only put, so two servers can never create the same conference. A
// delete of the id in this engine waits for the create to end.
func (e *Engine) CreateConference(ctx context.Context, p CreateParams) (Info, error) {
	if err := validateOrganizer(p.Organizer); err != nil {
		return Info{}, err
	}
	// Only a client that named the id can retry a failed create of it (see
	// noteUnfinishedCreate); a server-chosen id is never asked for again.
	named := p.ID != ""
	if !named {
		id, err := randomConferenceID()
		if err != nil {
			return Info{}, err
		}
		p.ID = id
	}
	if err := layout.ValidateConferenceID(p.ID); err != nil {
		return Info{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	now := e.now().UTC().Truncate(time.Millisecond)
	if p.Expires.IsZero() {
		p.Expires = now.Add(e.cfg.Retention.DefaultExpiry)
	}
	if !p.Expires.After(now) {
		return Info{}, fmt.Errorf("%w: expiry is in the past", ErrInvalidInput)
	}
	info := Info{ID: p.ID, Organizer: p.Organizer, OrgHash: layout.OrganizerHash(p.Organizer),
		Created: now, Expires: p.Expires.UTC().Truncate(time.Millisecond)}
	// A delete of the id waits until both files are written (see Engine.exclusive).
	if err := e.beginExclusive(ctx, info.ID, false); err != nil {
		return Info{}, err
	}
	defer e.endExclusive(info.ID)

	if err := e.releaseUnfinishedCreate(ctx, info.ID); err != nil {
		return Info{}, err
	}
	_, err := e.bucket.PutBytes(ctx, layout.IndexKey(info.ID), []byte(info.OrgHash), storage.Condition{IfNotExists: true})
	if errors.Is(err, storage.ErrPrecondition) {
		return Info{}, fmt.Errorf("%w: conference %q", ErrExists, info.ID)
	}
	if err != nil {
		// The entry may have been written all the same (an answer lost on the way).
		if named {
			e.noteUnfinishedCreate(info.ID, info.OrgHash)
		}
		return Info{}, err
	}
	master, err := encryption.NewKey()
	if err != nil {
		return Info{}, err
	}
	if err := e.writeConferenceFile(ctx, info, master); err != nil {
		// Release the id so that the caller can try again.
		if derr := e.bucket.Delete(context.WithoutCancel(ctx), layout.IndexKey(info.ID)); derr != nil {
			e.log.Warn("could not release conference id after a failed create", "conference", info.ID, "err", derr)
			if named {
				e.noteUnfinishedCreate(info.ID, info.OrgHash)
			}
		}
		return Info{}, err
	}
	e.log.Info("conference created", "conference", info.ID, "organizer_hash", info.OrgHash)
	return info, nil
}

// noteUnfinishedCreate remembers a create of id that failed and may have left its
// index entry (naming orgHash) behind: typically the storage went down between the
// entry and conference.xml, so that the release of the entry failed too. The caller
// was told to try again later (503), and its retry must not meet its own leftover
// as "already exists" until the retention sweep removes it a day later.
func (e *Engine) noteUnfinishedCreate(id, orgHash string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unfinishedCreates[id] = orgHash
}

// releaseUnfinishedCreate removes the index entry a failed create of id in this
// engine left behind, if it is still there, still names the same organizer, and no
// conference.xml came with it. Anything else is left alone: a conference that is
// there whole (its create failed only in its answer) answers "already exists", as
// does one another server created. Called with the id held (beginExclusive).
func (e *Engine) releaseUnfinishedCreate(ctx context.Context, id string) error {
	e.mu.Lock()
	orgHash, ok := e.unfinishedCreates[id]
	e.mu.Unlock()
	if !ok {
		return nil
	}
	data, _, err := e.readBounded(ctx, layout.IndexKey(id), maxIndexEntrySize)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return err
	case string(data) == orgHash:
		loc := layout.Conference{OrgHash: orgHash, ID: id}
		_, err := e.bucket.Stat(ctx, loc.ConferenceFile())
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		// The entry alone, as the sweep tells a create that stopped (headlessTrace):
		// anything more is a conference whose delete did not finish (the failed
		// create may have met an existing id), which only the delete may remove.
		trace, err := e.headlessTrace(ctx, loc)
		if err != nil {
			return err
		}
		if trace != traceCreate {
			break
		}
		if err := e.bucket.Delete(ctx, layout.IndexKey(id)); err != nil {
			return err
		}
		e.log.Info("index entry of a failed create released", "conference", id)
	}
	e.mu.Lock()
	delete(e.unfinishedCreates, id)
	e.mu.Unlock()
	return nil
}

func (e *Engine) writeConferenceFile(ctx context.Context, info Info, master encryption.Key) error {
	wrapped, err := keywrap.Wrap(e.cfg.KEK, master, e.cfg.KEKID, info.ID)
	if err != nil {
		return err
	}
	doc := metadata.Conference{ID: info.ID, Organizer: info.Organizer, Created: info.Created,
		Expires: info.Expires, Ended: info.Ended, KEKID: e.cfg.KEKID, WrappedMasterKey: wrapped}
	data, err := doc.Marshal()
	if err != nil {
		return err
	}
	_, err = e.bucket.PutBytes(ctx, info.Location().ConferenceFile(), data, storage.Condition{})
	return err
}

// maxIndexEntrySize bounds an index entry when it is read: it holds an organizer
// hash, 32 characters.
const maxIndexEntrySize = 1 << 10

// readBounded reads a file the engine wrote itself and knows the size of: one over
// limit is damage (metastore.ErrCorrupt), and is not read into memory whole.
func (e *Engine) readBounded(ctx context.Context, key string, limit int64) ([]byte, storage.Attributes, error) {
	data, attrs, err := e.bucket.ReadAllLimit(ctx, key, limit)
	if tl := (*storage.TooLargeError)(nil); errors.As(err, &tl) {
		return nil, attrs, fmt.Errorf("%w: %w", metastore.ErrCorrupt, err)
	}
	return data, attrs, err
}

// damaged reports a file the engine wrote that no longer reads: metastore.ErrCorrupt.
// The cause's own categories are cut off on purpose (its text is kept for the log):
// a parse error of a stored file is the store's damage, not the client's bad XML or
// bad id, which is what metadata.ErrMalformed or layout.ErrInvalidID would tell it.
func damaged(what string, cause error) error {
	return fmt.Errorf("%s is damaged (%v): %w", what, cause, metastore.ErrCorrupt)
}

// locate finds a conference's organizer hash through the index.
func (e *Engine) locate(ctx context.Context, id string) (layout.Conference, error) {
	loc, _, err := e.locateEntry(ctx, id)
	return loc, err
}

// locateEntry is locate that also returns the index entry's attributes.
func (e *Engine) locateEntry(ctx context.Context, id string) (layout.Conference, storage.Attributes, error) {
	if err := layout.ValidateConferenceID(id); err != nil {
		return layout.Conference{}, storage.Attributes{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	data, attrs, err := e.readBounded(ctx, layout.IndexKey(id), maxIndexEntrySize)
	if err != nil {
		return layout.Conference{}, storage.Attributes{}, fmt.Errorf("conference %q: %w", id, err)
	}
	loc := layout.Conference{OrgHash: string(data), ID: id}
	if err := layout.ValidateOrganizerHash(loc.OrgHash); err != nil {
		return layout.Conference{}, storage.Attributes{}, damaged(fmt.Sprintf("conference %q: index entry", id), err)
	}
	return loc, attrs, nil
}

// readConference reads conference.xml and unwraps the master key.
func (e *Engine) readConference(ctx context.Context, loc layout.Conference) (Info, encryption.Key, error) {
	data, _, err := e.readBounded(ctx, loc.ConferenceFile(), metadata.MaxConferenceSize)
	if err != nil {
		return Info{}, encryption.Key{}, fmt.Errorf("conference %q: %w", loc.ID, err)
	}
	doc, err := metadata.UnmarshalConference(data)
	if err != nil {
		return Info{}, encryption.Key{}, damaged(fmt.Sprintf("conference %q: conference.xml", loc.ID), err)
	}
	if doc.ID != loc.ID || layout.OrganizerHash(doc.Organizer) != loc.OrgHash {
		// Another conference's file (a restore into the wrong folder, a copy by hand):
		// taken as it is, this conference would answer with the other's identity,
		// retention and master key, and its events would go to the other's listeners.
		return Info{}, encryption.Key{}, fmt.Errorf("conference %q: conference.xml belongs to conference %q of another folder: %w",
			loc.ID, doc.ID, metastore.ErrCorrupt)
	}
	kek, ok := e.kek(doc.KEKID)
	if !ok {
		return Info{}, encryption.Key{}, fmt.Errorf("conference %q: master key: %w", loc.ID, &UnknownKEKError{ID: doc.KEKID})
	}
	master, err := keywrap.Unwrap(kek, doc.WrappedMasterKey, doc.KEKID, loc.ID)
	if err != nil {
		return Info{}, encryption.Key{}, fmt.Errorf("conference %q: master key (kek %q): %w", loc.ID, doc.KEKID, err)
	}
	info := Info{ID: doc.ID, Organizer: doc.Organizer, OrgHash: loc.OrgHash, Created: doc.Created, Expires: doc.Expires, Ended: doc.Ended}
	return info, master, nil
}

// acquire returns the open conference, opening it (and replaying its journal) on
// first use. Concurrent first uses open it once.
func (e *Engine) acquire(ctx context.Context, id string) (*conf, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, storage.NewError(storage.ErrClosed, "conference", id, nil)
	}
	if c, ok := e.open[id]; ok {
		e.mu.Unlock()
		return c, nil
	}
	if e.exclusive[id].deleting {
		e.mu.Unlock()
		return nil, fmt.Errorf("conference %q is being deleted: %w", id, ErrNotFound)
	}
	e.mu.Unlock()

	// The open is shared by every concurrent first use, so it runs on a context of
	// its own: one caller giving up must not fail the others. Each caller still
	// stops waiting when its own context ends.
	ch := e.opening.DoChan(id, func() (any, error) {
		octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), openTimeout)
		defer cancel()
		return e.openConference(octx, id)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*conf), nil
	}
}

// openTimeout bounds a shared open (reading conference.xml, replaying the journal,
// measuring usage), which no single caller's context can end.
const openTimeout = 2 * time.Minute

func (e *Engine) openConference(ctx context.Context, id string) (*conf, error) {
	e.mu.Lock()
	if c, ok := e.open[id]; ok {
		e.mu.Unlock()
		return c, nil
	}
	if e.exclusive[id].deleting {
		// Asked for before the delete began, started after it waited for opens.
		e.mu.Unlock()
		return nil, fmt.Errorf("conference %q is being deleted: %w", id, ErrNotFound)
	}
	e.mu.Unlock()
	loc, err := e.locate(ctx, id)
	if err != nil {
		return nil, err
	}
	info, master, err := e.readConference(ctx, loc)
	if err != nil {
		return nil, err
	}
	store, err := metastore.Open(ctx, e.bucket, loc.MetadataPrefix(), sealer{master},
		metastore.Options{SnapshotInterval: e.cfg.SnapshotInterval, Logger: e.log.With("conference", id)})
	if err != nil {
		return nil, fmt.Errorf("conference %q: %w", id, err)
	}
	u, err := e.measureUsage(ctx, loc)
	if err != nil {
		_ = store.Close(ctx)
		return nil, err
	}
	c := &conf{loc: loc, info: info, master: master, store: store, mu: newConfMutex(), usage: u, lastUsed: e.now()}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		_ = store.Close(ctx)
		return nil, storage.NewError(storage.ErrClosed, "conference", id, nil)
	}
	if e.exclusive[id].deleting {
		// A delete began while this open read it (and waits for it to end): what was
		// read is going. Abandoned, not closed: a final snapshot would write the
		// documents back into the folder the delete empties.
		store.Abandon()
		return nil, fmt.Errorf("conference %q: %w", id, ErrNotFound)
	}
	e.open[id] = c
	return c, nil
}

// GetConference returns a conference's description.
func (e *Engine) GetConference(ctx context.Context, id string) (Info, error) {
	c, err := e.lockOpen(ctx, id, true)
	if err != nil {
		return Info{}, err
	}
	defer c.mu.Unlock()
	return c.info, nil
}

// listReads bounds how many conferences ListConferences reads at once. Each costs two
// small reads, so against a remote store their round trips, not their bytes, are the
// cost: one after another, a thousand conferences on S3 took seconds.
const listReads = 16

// ListConferences returns every conference in the index, in id order. A damaged
// entry is skipped with a warning rather than hiding all the others. It only reads
// each conference.xml: opening every conference would replay (and write out) each
// journal and keep them all open, including those another server is serving.
func (e *Engine) ListConferences(ctx context.Context) ([]Info, error) {
	ids, err := e.conferenceIDs(ctx)
	if err != nil {
		return nil, err
	}
	infos := make([]Info, len(ids))
	found := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listReads)
	for i, id := range ids {
		g.Go(func() error {
			info, err := e.peekConference(gctx, id)
			switch {
			case err == nil:
				infos[i], found[i] = info, true
			case errors.Is(err, storage.ErrNotFound):
				// deleted meanwhile, or a create cut short (the sweep's business)
			case storage.IsRetryable(err) || gctx.Err() != nil:
				return err
			default:
				e.log.Warn("skipping unreadable conference", "conference", id, "err", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(ids))
	for i, info := range infos {
		if found[i] {
			out = append(out, info)
		}
	}
	return out, nil
}

// conferenceIDs lists the ids in the conference index.
func (e *Engine) conferenceIDs(ctx context.Context) ([]string, error) {
	var ids []string
	for attrs, err := range e.bucket.List(ctx, layout.IndexRoot+"/") {
		if err != nil {
			return nil, err
		}
		ids = append(ids, strings.TrimPrefix(attrs.Key, layout.IndexRoot+"/"))
	}
	return ids, nil
}

// peekConference is GetConference without opening the conference.
func (e *Engine) peekConference(ctx context.Context, id string) (Info, error) {
	e.mu.Lock()
	c, ok := e.open[id]
	e.mu.Unlock()
	if ok {
		if err := c.mu.LockContext(ctx); err != nil {
			return Info{}, err
		}
		defer c.mu.Unlock()
		return c.info, nil
	}
	loc, err := e.locate(ctx, id)
	if err != nil {
		return Info{}, err
	}
	info, _, err := e.readConference(ctx, loc)
	return info, err
}

// EndConference records that the conference has ended; it accepts no more changes
// and its content stays readable until retention removes it.
func (e *Engine) EndConference(ctx context.Context, id string) (Info, error) {
	c, err := e.lockOpen(ctx, id, true)
	if err != nil {
		return Info{}, err
	}
	defer c.mu.Unlock()
	if c.deleted {
		return Info{}, fmt.Errorf("conference %q: %w", id, ErrNotFound)
	}
	if !c.info.Ended.IsZero() {
		return c.info, nil
	}
	updated := c.info
	updated.Ended = e.now().UTC().Truncate(time.Millisecond)
	// Read, changed and written back, not rebuilt from Info: the file keeps what
	// this version does not know (SPEC section 5), as RewrapConferences does.
	file := c.loc.ConferenceFile()
	data, attrs, err := e.readBounded(ctx, file, metadata.MaxConferenceSize)
	if err != nil {
		return Info{}, fmt.Errorf("conference %q: %w", id, err)
	}
	doc, err := metadata.UnmarshalConference(data)
	if err != nil {
		return Info{}, damaged(fmt.Sprintf("conference %q: conference.xml", id), err)
	}
	doc.Ended = updated.Ended
	out, err := doc.Marshal()
	if err != nil {
		return Info{}, err
	}
	if _, err := e.bucket.PutBytes(ctx, file, out, storage.Condition{IfVersion: attrs.Version}); err != nil {
		return Info{}, fmt.Errorf("conference %q: %w", id, err)
	}
	c.info = updated
	e.publish(id, events.ConferenceEnded, events.Everyone, map[string]any{"conference": id})
	return updated, nil
}

// writable reports ErrGone when the conference accepts no more changes. c.mu held.
func (e *Engine) writable(c *conf) error {
	if c.deleted {
		return fmt.Errorf("conference %q: %w", c.info.ID, ErrNotFound)
	}
	if !c.info.Ended.IsZero() || !e.now().Before(c.info.Expires) {
		return fmt.Errorf("%w: conference %q", ErrGone, c.info.ID)
	}
	return nil
}

// DeleteConference removes a conference with all its metadata, content and
// unfinished uploads (compliance copies stay: they have their own retention).
//
// The delete first writes a marker (layout.DeletingMarker), then removes
// conference.xml: it holds the wrapped master key, without which nothing else of the
// conference can be read, so from that moment on the conference is gone for every
// reader. Then the content, the uploads, the other metadata, the marker, and last the
// index entry, so that an interrupted delete can be repeated, by the caller or by the
// retention sweep, which finishes a delete whose marker it finds (see Sweep). The id
// is free for a new conference only once nothing of the old one is left.
//
// While it runs, this engine does not open the conference (requests get not found),
// and the delete waits for an open under way to end first. Creates and deletes of one
// id run one after another in this engine; a second delete finds nothing to delete
// (ErrNotFound).
func (e *Engine) DeleteConference(ctx context.Context, id string) error {
	if err := layout.ValidateConferenceID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if err := e.beginExclusive(ctx, id, true); err != nil {
		return err
	}
	defer e.endExclusive(id)
	// Looked up only now: a delete of the same id that ran meanwhile has removed it.
	loc, err := e.locate(ctx, id)
	if err != nil {
		return err
	}
	e.drop(id)
	if err := e.waitForOpen(ctx, id); err != nil {
		return err
	}
	return e.removeConference(ctx, loc)
}

// beginExclusive waits for a create or delete of the same id under way, then marks
// the id as being created or (deleting) deleted. A delete stops the id from being
// opened; a create only makes deletes of the id wait (the id may name a conference
// that exists, whose create-only put will fail).
func (e *Engine) beginExclusive(ctx context.Context, id string, deleting bool) error {
	for {
		e.mu.Lock()
		running, busy := e.exclusive[id]
		if !busy {
			e.exclusive[id] = exclusiveOp{done: make(chan struct{}), deleting: deleting}
			e.mu.Unlock()
			return nil
		}
		e.mu.Unlock()
		select {
		case <-running.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// exclusiveOp is a create or delete under way (Engine.exclusive).
type exclusiveOp struct {
	done     chan struct{} // closed when it ends
	deleting bool
}

func (e *Engine) endExclusive(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	close(e.exclusive[id].done)
	delete(e.exclusive, id)
}

// drop drops the conference if it is open: requests that hold it get ErrNotFound.
// Abandoned, not closed: the delete removes the files a final snapshot would write.
// If the delete fails before its first step, the journal still holds every change,
// and the next open replays it.
func (e *Engine) drop(id string) {
	e.mu.Lock()
	c, ok := e.open[id]
	delete(e.open, id)
	e.mu.Unlock()
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = true
	if !c.evicted { // else CloseIdle has closed it
		c.store.Abandon()
	}
}

// waitForOpen waits until an open of the conference under way, if any, has ended.
// An open writes (replaying the journal heals copies of documents): one that ran on
// while the delete removed the folder would leave files in it. Having seen the delete
// begin, it abandons what it opened.
func (e *Engine) waitForOpen(ctx context.Context, id string) error {
	ch := e.opening.DoChan(id, func() (any, error) {
		return nil, fmt.Errorf("conference %q is being deleted: %w", id, ErrNotFound)
	})
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
		return nil
	}
}

func (e *Engine) removeConference(ctx context.Context, loc layout.Conference) error {
	marker := loc.DeletingMarker()
	if _, err := e.bucket.PutBytes(ctx, marker, []byte(e.now().UTC().Format(time.RFC3339)), storage.Condition{}); err != nil {
		return fmt.Errorf("conference %q: %w", loc.ID, err)
	}
	if err := e.bucket.Delete(ctx, loc.ConferenceFile()); err != nil {
		// Nothing is removed: the conference stays as it was, without the marker
		// (if that delete fails too, the marker without a missing conference.xml
		// means nothing).
		_ = e.bucket.Delete(context.WithoutCancel(ctx), marker)
		return fmt.Errorf("conference %q: %w", loc.ID, err)
	}
	for _, prefix := range []string{loc.ContentPrefix(), uploadPrefix(loc.ID), loc.MetadataPrefix()} {
		if err := deleteAll(ctx, e.bucket, prefix, marker); err != nil {
			return fmt.Errorf("conference %q: %w", loc.ID, err)
		}
	}
	// The marker before the index entry: an entry left alone, with empty folders, is
	// the same trace as a create that stopped between its two writes, which the
	// sweep also removes.
	if err := e.bucket.Delete(ctx, marker); err != nil {
		return fmt.Errorf("conference %q: %w", loc.ID, err)
	}
	if err := e.bucket.Delete(ctx, layout.IndexKey(loc.ID)); err != nil {
		return err
	}
	if e.cfg.Events != nil {
		e.cfg.Events.Forget(loc.ID)
	}
	e.log.Info("conference deleted", "conference", loc.ID)
	return nil
}

func uploadPrefix(confID string) string { return layout.UploadRoot + "/" + confID + "/" }

// deleteAll removes every object under prefix but the keys in keep. Listing first and
// deleting after keeps the listing stable on backends that page.
func deleteAll(ctx context.Context, b *storage.Bucket, prefix string, keep ...string) error {
	var keys []string
	for attrs, err := range b.List(ctx, prefix) {
		if err != nil {
			return err
		}
		if !slices.Contains(keep, attrs.Key) {
			keys = append(keys, attrs.Key)
		}
	}
	for _, k := range keys {
		if err := b.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
