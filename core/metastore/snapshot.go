package metastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lectern/lectern/core/storage"
)

// parallelWrites bounds the backend operations one snapshot runs at once.
const parallelWrites = 8

// copyState is what one of a document's two files holds.
type copyState struct {
	key     string
	raw     []byte
	env     envelope
	missing bool
	err     error // ErrCorrupt, when present but not valid
}

func (c copyState) valid() bool { return !c.missing && c.err == nil }

// ensureLoaded loads the document from its files once. e.mu must be held. Storage
// failures are returned and not remembered, so a later call retries; a document with
// no valid copy is remembered as ErrCorrupt until a change replaces it.
func (s *Store) ensureLoaded(ctx context.Context, d Doc, e *entry) error {
	if e.loaded {
		return e.loadErr
	}
	env, found, both, err := s.loadDoc(ctx, d)
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return err
	}
	e.loaded, e.loadErr = true, err
	switch {
	case err != nil:
	case !found:
		e.cur.Store(&version{})
	default:
		// When a copy could not be repaired, snapGen stays 0: the next snapshot
		// writes both copies, and the journal records the other lacks are kept
		// until then.
		if both {
			e.snapGen.Store(env.gen)
		}
		e.cur.Store(&version{exists: true, data: env.data, gen: env.gen})
		s.mu.Lock()
		// Generations come from journal sequence numbers; a new change must get a
		// higher one even if the journal has lost its newest record.
		s.nextSeq = max(s.nextSeq, env.gen+1)
		s.mu.Unlock()
	}
	return err
}

// loadDoc reads both copies, returns the newest valid one and rewrites the other if it
// is missing, damaged or older. found is false when neither copy exists; both says
// whether both copies now hold the one returned.
func (s *Store) loadDoc(ctx context.Context, d Doc) (env envelope, found, both bool, err error) {
	p, err := s.readCopy(ctx, d, d.PrimaryKey())
	if err != nil {
		return envelope{}, false, false, err
	}
	b, err := s.readCopy(ctx, d, d.BackupKey())
	if err != nil {
		return envelope{}, false, false, err
	}
	switch {
	case p.missing && b.missing:
		return envelope{}, false, false, nil
	case !p.valid() && !b.valid():
		s.log.ErrorContext(ctx, "metastore: no valid copy of document", "doc", d.String(),
			"primary", describe(p), "backup", describe(b))
		return envelope{}, false, false, fmt.Errorf("metastore: %s: primary %s, backup %s: %w", d, describe(p), describe(b), ErrCorrupt)
	}
	good, other := p, b
	if !p.valid() || b.valid() && b.env.gen > p.env.gen {
		good, other = b, p
	}
	if other.valid() && other.env.gen == good.env.gen {
		return good.env, true, true, nil
	}
	// One copy is missing, damaged or stale. A missing or stale backup is the
	// normal trace of a crash between the two writes; damage is not.
	level := "stale"
	switch {
	case other.missing:
		level = "missing"
	case other.err != nil:
		level = "damaged"
	}
	attrs := []any{"doc", d.String(), "repair", other.key, "from", good.key, "state", level}
	if other.err != nil {
		s.log.WarnContext(ctx, "metastore: damaged copy, healing from the other", append(attrs, "err", other.err)...)
	} else {
		s.log.InfoContext(ctx, "metastore: copy behind, bringing it up to date", attrs...)
	}
	// The sealed bytes are copied as they are: both files carry the same envelope.
	if _, err := s.bucket.PutBytes(ctx, s.prefix+other.key, good.raw, storage.Condition{}); err != nil {
		// The good copy is still there; the next snapshot writes both (see
		// ensureLoaded), and until then the journal keeps what they lack.
		s.log.WarnContext(ctx, "metastore: repair failed", "doc", d.String(), "key", other.key, "err", err)
		return good.env, true, false, nil
	}
	return good.env, true, true, nil
}

func describe(c copyState) string {
	switch {
	case c.missing:
		return "missing"
	case c.err != nil:
		return "damaged"
	}
	return fmt.Sprintf("generation %d", c.env.gen)
}

func (s *Store) readCopy(ctx context.Context, d Doc, key string) (copyState, error) {
	c := copyState{key: key}
	raw, _, err := s.readSealed(ctx, key)
	var ce *CorruptError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c.missing = true
		return c, nil
	case errors.As(err, &ce):
		c.err = err // damaged, as one that does not decrypt: the other copy may do
		return c, nil
	case err != nil:
		return c, fmt.Errorf("metastore: read %s: %w", key, err)
	}
	c.raw = raw
	c.env, c.err = s.open(key, raw, magicSnapshot, d.String())
	return c, nil
}

// Snapshot writes every dirty document to its two files and then trims the journal
// records they cover. A document whose write fails stays dirty (its journal records
// stay too) and is retried next time; the errors are joined.
func (s *Store) Snapshot(ctx context.Context) error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	docs := make([]Doc, 0, len(s.docs))
	entries := make([]*entry, 0, len(s.docs))
	for d, e := range s.docs {
		docs, entries = append(docs, d), append(entries, e)
	}
	s.mu.Unlock()
	// Documents are independent: write several at once, since each write waits
	// for the backend's durability (an fsync on disk, a round trip on S3).
	var (
		emu     sync.Mutex
		errs    []error
		written int
		g       errgroup.Group
	)
	g.SetLimit(parallelWrites)
	for i, d := range docs {
		e := entries[i]
		v := e.cur.Load()
		if v == nil || v.gen <= e.snapGen.Load() {
			continue
		}
		g.Go(func() error {
			err := s.writeDoc(ctx, d, v.gen, v.exists, v.data)
			emu.Lock()
			defer emu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			written++
			// Only snapshots (serialised by snapMu) raise snapGen after loading.
			e.snapGen.Store(max(e.snapGen.Load(), v.gen))
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through errs
	if err := s.trim(ctx); err != nil {
		errs = append(errs, err)
	}
	if written > 0 {
		s.log.DebugContext(ctx, "metastore: snapshot", "documents", written, "failed", len(errs))
	}
	return errors.Join(errs...)
}

// writeDoc is the two-file protocol: write the primary (atomically, by the backend),
// read it back and open it, and only then write the backup the same way. At every
// moment at least one file holds a valid copy no older than the last snapshot, and
// the journal still holds every later change, so no failure or crash leaves both
// copies damaged. A deleted document's files are removed, primary first; until the
// journal is trimmed, its delete record wins over a surviving backup.
func (s *Store) writeDoc(ctx context.Context, d Doc, gen uint64, exists bool, data []byte) error {
	if !exists {
		for _, key := range []string{d.PrimaryKey(), d.BackupKey()} {
			if err := s.bucket.Delete(ctx, s.prefix+key); err != nil {
				return fmt.Errorf("metastore: snapshot %s: %w", d, err)
			}
		}
		return nil
	}
	sealed, err := s.seal(envelope{magic: magicSnapshot, gen: gen, name: d.String(), data: data})
	if err != nil {
		return err
	}
	for _, key := range []string{d.PrimaryKey(), d.BackupKey()} {
		if _, err := s.bucket.PutBytes(ctx, s.prefix+key, sealed, storage.Condition{}); err != nil {
			return fmt.Errorf("metastore: snapshot %s: %w", d, err)
		}
		c, err := s.readCopy(ctx, d, key)
		if err != nil {
			return fmt.Errorf("metastore: snapshot %s: verify: %w", d, err)
		}
		if !c.valid() || c.env.gen != gen || !bytes.Equal(c.env.data, data) {
			return fmt.Errorf("metastore: snapshot %s: %s did not read back as written: %w", d, key, ErrCorrupt)
		}
	}
	return nil
}

// trim deletes the journal records whose document has been snapshotted at or past
// them. The newest record is always kept: its sequence number is the floor for the
// next one after a restart, which keeps generations increasing.
//
// One document's records are deleted oldest first, one at a time. This matters for a
// deleted document: its files are gone, so nothing on storage says how new the
// deletion is, and if a crash removed the delete record but left an older put record,
// replay would bring the document back. Oldest first, any records a crash leaves are
// the newest ones, which replay correctly. Documents are independent of each other.
func (s *Store) trim(ctx context.Context) error {
	s.mu.Lock()
	var newest uint64
	for seq := range s.pending {
		newest = max(newest, seq)
	}
	type docRecords struct {
		e    *entry
		seqs []uint64
	}
	byDoc := map[Doc]*docRecords{}
	for seq, d := range s.pending {
		e := s.docs[d]
		if seq == newest || e == nil || e.snapGen.Load() < seq {
			continue
		}
		r := byDoc[d]
		if r == nil {
			r = &docRecords{e: e}
			byDoc[d] = r
		}
		r.seqs = append(r.seqs, seq)
	}
	s.mu.Unlock()
	var (
		emu  sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(parallelWrites)
	for _, r := range byDoc {
		slices.Sort(r.seqs)
		g.Go(func() error {
			for _, seq := range r.seqs {
				if err := s.bucket.Delete(ctx, s.prefix+journalKey(seq)); err != nil {
					emu.Lock()
					errs = append(errs, fmt.Errorf("metastore: trim journal: %w", err))
					emu.Unlock()
					return nil // keep the order: no newer record of this document goes first
				}
				s.mu.Lock()
				delete(s.pending, seq)
				s.mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// loop runs the periodic snapshot, and an early one when the journal grows long.
func (s *Store) loop() {
	defer close(s.done)
	var tick <-chan time.Time
	if s.opts.SnapshotInterval > 0 {
		t := time.NewTicker(s.opts.SnapshotInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
		case <-s.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(s.opts.SnapshotInterval, time.Minute))
		if err := s.Snapshot(ctx); err != nil {
			s.log.WarnContext(ctx, "metastore: periodic snapshot incomplete; will retry", "err", err)
		}
		cancel()
	}
}

// Close stops the periodic snapshot and writes every dirty document. After Close the
// Store refuses calls with storage.ErrClosed. If the final snapshot fails, nothing is
// lost: the journal still holds the changes and the next Open replays them.
func (s *Store) Close(ctx context.Context) error {
	if !s.stopLoop() {
		return nil
	}
	return s.Snapshot(ctx)
}

// Abandon stops the Store as Close does, but writes nothing: for a Store whose folder
// is being deleted, where a final snapshot would write its documents again after the
// delete removed them. The journal keeps what it holds, so abandoning a Store whose
// folder then stays loses nothing either: the next Open replays it.
func (s *Store) Abandon() { s.stopLoop() }

// stopLoop marks the Store closed and waits for its snapshot loop to end; it reports
// whether this call closed it.
func (s *Store) stopLoop() bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	return true
}
