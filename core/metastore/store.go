// Package metastore persists a conference's metadata documents (slide sets and
// handouts) so that nothing acknowledged is lost: every change is journaled first as a
// sealed, create-only record; dirty documents are snapshotted periodically to the
// seeds' two files (set-<id>.exml and its backup set-s-<id>.exml, ft/fileset-… for
// handouts), written one after the other and verified; opening replays the journal over
// the newest valid copy and heals a damaged one. It also allocates the seeds' ids
// (SSMaxId, ft/FTMaxID) safely between several engines, using only the backend's
// conditional writes. docs/persistence.md describes the layout and the protocol.
//
// It works on a *storage.Bucket and a key prefix, treats document contents as opaque
// bytes and encrypts through the small Sealer interface it owns. It must NOT know XML,
// HTTP, key management or any concrete backend.
package metastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// Sealer encrypts and authenticates metadata files; the engine passes one built on the
// conference master key. Open must fail for anything Seal did not produce with the
// same key (tampered, truncated, foreign). Errors must not contain key material.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(ciphertext []byte) ([]byte, error)
}

// Options tune a Store. The zero value is usable.
type Options struct {
	// SnapshotInterval is how often dirty documents are written to their two files.
	// Zero means the default, five minutes; a negative value disables the periodic
	// snapshot (Snapshot and Close still write).
	SnapshotInterval time.Duration
	// JournalSoftLimit starts a snapshot early when this many journal records are
	// waiting, which bounds replay time. Zero means 1000; negative disables it.
	JournalSoftLimit int
	// Logger receives recovery and snapshot events. Nil means slog.Default().
	Logger *slog.Logger
}

// MaxDocumentSize bounds one document. Metadata documents are kilobytes; the bound
// keeps a runaway caller from filling the journal with huge copies.
const MaxDocumentSize = 16 << 20

// DefaultSnapshotInterval is the seeds' five minutes.
const DefaultSnapshotInterval = 5 * time.Minute

// Store holds one conference folder's documents. It is safe for concurrent use.
// Changes to one document are applied in the order their calls were acknowledged.
//
// One Store should own a folder's documents at a time; ids and journal records stay
// unique even when several Stores share a folder.
type Store struct {
	bucket *storage.Bucket
	prefix string
	sealer Sealer
	opts   Options
	log    *slog.Logger
	caps   storage.Capabilities

	mu      sync.Mutex // guards the fields below; never held while taking an entry lock
	docs    map[Doc]*entry
	nextSeq uint64         // next journal sequence number to try
	pending map[uint64]Doc // journal records known to exist, by sequence number
	closed  bool

	snapMu sync.Mutex // one snapshot at a time

	idMu               [3]sync.Mutex // per kind
	nextClaim          [3]uint64     // per kind, guarded by idMu
	needStatForVersion atomic.Bool

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// entry is the in-memory state of one document. Its mutex is held across loading and
// across the journal write of a change, which is what orders the changes of one
// document. The snapshot reads cur and snapGen without the mutex, so that it never
// waits for a change in flight.
type entry struct {
	mu      sync.Mutex
	loaded  bool                    // guarded by mu
	loadErr error                   // guarded by mu; ErrCorrupt when no copy was valid, until a change
	cur     atomic.Pointer[version] // nil until loaded (and while no copy is valid)
	snapGen atomic.Uint64           // generation durable in both files
}

// version is one state of a document; it is never modified once published.
type version struct {
	exists bool
	data   []byte
	gen    uint64 // journal sequence number of the change that made it
}

// gen returns the generation of the current state, 0 if none.
func (e *entry) gen() uint64 {
	if v := e.cur.Load(); v != nil {
		return v.gen
	}
	return 0
}

// Open opens the folder at prefix (for example "meta/<orghash>/<confid>/"; it must be
// empty or end with "/"), replays its journal and starts the periodic snapshot. The
// bucket stays the caller's: Close does not close it.
func Open(ctx context.Context, bucket *storage.Bucket, prefix string, sealer Sealer, opts Options) (*Store, error) {
	if bucket == nil || sealer == nil {
		return nil, fmt.Errorf("metastore: open: nil bucket or sealer: %w", storage.ErrInvalidArgument)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("metastore: open: prefix %q must end with /: %w", printable(prefix), storage.ErrInvalidArgument)
	}
	if err := storage.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("metastore: open: %w", err)
	}
	caps := bucket.Capabilities()
	if !caps.ConditionalCreate {
		return nil, fmt.Errorf("metastore: open: the backend has no create-only put, which the journal and ids need: %w", storage.ErrUnsupported)
	}
	if opts.SnapshotInterval == 0 {
		opts.SnapshotInterval = DefaultSnapshotInterval
	}
	if opts.JournalSoftLimit == 0 {
		opts.JournalSoftLimit = 1000
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Store{
		bucket: bucket, prefix: prefix, sealer: sealer, opts: opts,
		log:  log.With("metastore", prefix),
		caps: caps, docs: map[Doc]*entry{}, pending: map[uint64]Doc{}, nextSeq: 1,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := s.replay(ctx); err != nil {
		return nil, err
	}
	if s.opts.JournalSoftLimit > 0 && len(s.pending) >= s.opts.JournalSoftLimit {
		s.kick <- struct{}{} // a long journal is written out soon, not at the next tick
	}
	go s.loop()
	return s, nil
}

func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("metastore: %w", storage.ErrClosed)
	}
	return nil
}

// entry returns the document's entry, creating an unloaded one.
func (s *Store) entry(d Doc) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.docs[d]
	if !ok {
		e = &entry{}
		s.docs[d] = e
	}
	return e
}

// Get returns the document's current contents. A missing (or deleted) document is an
// error matching storage.ErrNotFound; a document none of whose copies is valid (and
// that no journal record replaces) matches ErrCorrupt.
func (s *Store) Get(ctx context.Context, d Doc) ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	e := s.entry(d)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := s.ensureLoaded(ctx, d, e); err != nil {
		return nil, err
	}
	v := e.cur.Load()
	if v == nil || !v.exists {
		return nil, fmt.Errorf("metastore: %s: %w", d, storage.ErrNotFound)
	}
	return bytes.Clone(v.data), nil
}

// Put replaces the document's contents. When it returns nil the change is durable in
// the journal: it survives a crash at any later moment. When it returns an error the
// change may or may not have been recorded.
func (s *Store) Put(ctx context.Context, d Doc, data []byte) error {
	if err := d.validate(); err != nil {
		return err
	}
	if len(data) > MaxDocumentSize {
		return fmt.Errorf("metastore: %s: %d bytes, over the limit of %d: %w (%w)", d, len(data), MaxDocumentSize, ErrTooLarge, storage.ErrInvalidArgument)
	}
	return s.change(ctx, d, opPut, data)
}

// Delete removes the document, journaled like Put. Deleting a missing document
// succeeds. Its id is never allocated again.
func (s *Store) Delete(ctx context.Context, d Doc) error {
	if err := d.validate(); err != nil {
		return err
	}
	return s.change(ctx, d, opDelete, nil)
}

func (s *Store) change(ctx context.Context, d Doc, op byte, data []byte) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	e := s.entry(d)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := s.ensureLoaded(ctx, d, e); err != nil && !errors.Is(err, ErrCorrupt) {
		// A damaged document may be replaced or deleted: the change heals it.
		return err
	}
	if cur := e.cur.Load(); op == opDelete && cur != nil && !cur.exists {
		return nil
	}
	seq, err := s.appendJournal(ctx, d, op, data, e.gen())
	if err != nil {
		return err
	}
	v := &version{exists: op == opPut, gen: seq}
	if v.exists {
		v.data = bytes.Clone(data)
	}
	e.loadErr = nil
	e.cur.Store(v)
	s.mu.Lock()
	s.pending[seq] = d
	full := s.opts.JournalSoftLimit > 0 && len(s.pending) >= s.opts.JournalSoftLimit
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// appendJournal writes one record with a sequence number above after and returns it.
// Records are created, never replaced: a lost race with another Store over the same
// folder moves on to the next number.
func (s *Store) appendJournal(ctx context.Context, d Doc, op byte, data []byte, after uint64) (uint64, error) {
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		seq := max(s.nextSeq, after+1)
		s.nextSeq = seq + 1
		s.mu.Unlock()
		sealed, err := s.seal(envelope{magic: magicJournal, op: op, gen: seq, name: d.String(), data: data})
		if err != nil {
			return 0, err
		}
		key := journalKey(seq)
		_, err = s.bucket.PutBytes(ctx, s.prefix+key, sealed, storage.Condition{IfNotExists: true})
		if err == nil {
			return seq, nil
		}
		if errors.Is(err, storage.ErrPrecondition) && attempt < maxIDAttempts {
			// Another Store over the folder is ahead of this one: leap forward, by
			// more each time, rather than probing its records one by one. Gaps in
			// the sequence are harmless.
			s.mu.Lock()
			s.nextSeq = max(s.nextSeq, seq+1<<min(attempt, 16))
			s.mu.Unlock()
			continue
		}
		if !errors.Is(err, storage.ErrPrecondition) {
			s.retract(ctx, key, sealed)
		}
		return 0, fmt.Errorf("metastore: journal %s: %w", d, err)
	}
}

// retract removes a journal record whose put reported failure but may have happened
// (a reply lost on the way), so that a restart does not apply a change its caller was
// told had failed. Only a record holding exactly these sealed bytes is removed: the
// key may belong to another Store that won it, and the random nonce makes ours unique.
// If this fails too, the change's outcome is unknown, as Put documents.
func (s *Store) retract(ctx context.Context, key string, sealed []byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	raw, _, err := s.readSealed(ctx, key)
	if err != nil || !bytes.Equal(raw, sealed) {
		return
	}
	if err := s.bucket.Delete(ctx, s.prefix+key); err != nil {
		s.log.WarnContext(ctx, "metastore: could not retract a failed journal record", "key", key, "err", err)
	}
}

// List returns the ids of kind's existing documents in ascending id order.
func (s *Store) List(ctx context.Context, kind Kind) ([]string, error) {
	if !kind.valid() {
		return nil, fmt.Errorf("metastore: %v: %w", kind, ErrInvalidDoc)
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	found := map[string]bool{}
	prefix := s.prefix + kindTable[kind].primary
	for a, err := range s.bucket.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("metastore: list %v: %w", kind, err)
		}
		if id, _, ok := parseDocKey(kind, a.Key[len(s.prefix):]); ok {
			found[id] = true
		}
	}
	// The in-memory state is newer than the files: add documents not yet
	// snapshotted and drop deleted ones.
	s.mu.Lock()
	var known []Doc
	var entries []*entry
	for d, e := range s.docs {
		if d.Kind == kind {
			known, entries = append(known, d), append(entries, e)
		}
	}
	s.mu.Unlock()
	for i, d := range known {
		if v := entries[i].cur.Load(); v != nil {
			found[d.ID] = v.exists
		}
	}
	var ids []string
	for id, ok := range found {
		if ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		na, _ := ParseID(a)
		nb, _ := ParseID(b)
		return cmpUint(na, nb)
	})
	return ids, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// replay reads the journal and applies every record newer than its document's
// snapshot, in sequence order.
func (s *Store) replay(ctx context.Context) error {
	type rec struct {
		seq uint64
		env envelope
	}
	var recs []rec
	prefix := s.prefix + JournalPrefix
	for a, err := range s.bucket.List(ctx, prefix) {
		if err != nil {
			return fmt.Errorf("metastore: list journal: %w", err)
		}
		name := a.Key[len(prefix):]
		seq, perr := strconv.ParseUint(name, 10, 64)
		if perr != nil || len(name) != 20 {
			s.log.WarnContext(ctx, "metastore: ignoring stray file in journal", "key", a.Key)
			continue
		}
		raw, _, err := s.readSealed(ctx, a.Key[len(s.prefix):])
		if errors.Is(err, storage.ErrNotFound) {
			continue // trimmed by another Store meanwhile
		}
		var ce *CorruptError
		if errors.As(err, &ce) {
			return err // as a record that does not decrypt: see below
		}
		if err != nil {
			return fmt.Errorf("metastore: read journal: %w", err)
		}
		env, err := s.openJournal(a.Key[len(s.prefix):], raw, seq)
		if err != nil {
			// A record is created atomically, so a damaged one was damaged after
			// the fact; skipping it could drop an acknowledged change.
			return err
		}
		recs = append(recs, rec{seq, env})
	}
	slices.SortFunc(recs, func(a, b rec) int { return cmpUint(a.seq, b.seq) })
	applied := 0
	for _, r := range recs {
		d, err := parseDocName(r.env.name)
		if err != nil {
			return &CorruptError{Key: journalKey(r.seq), Reason: "names no valid document", Err: err}
		}
		s.mu.Lock()
		s.pending[r.seq] = d
		s.nextSeq = max(s.nextSeq, r.seq+1)
		s.mu.Unlock()
		e := s.entry(d)
		e.mu.Lock()
		err = s.ensureLoaded(ctx, d, e)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			e.mu.Unlock()
			return err
		}
		if r.seq > e.gen() {
			v := &version{exists: r.env.op == opPut, gen: r.seq}
			if v.exists {
				v.data = r.env.data
			}
			e.loadErr = nil
			e.cur.Store(v)
			applied++
		}
		e.mu.Unlock()
	}
	if len(recs) > 0 {
		s.log.InfoContext(ctx, "metastore: journal replayed", "records", len(recs), "applied", applied)
	}
	return nil
}

func (s *Store) openJournal(key string, raw []byte, seq uint64) (envelope, error) {
	env, err := s.sealedJournal(key, raw)
	if err != nil {
		return envelope{}, err
	}
	if env.gen != seq {
		return envelope{}, &CorruptError{Key: key, Reason: fmt.Sprintf("holds record %d", env.gen)}
	}
	if env.op != opPut && env.op != opDelete {
		return envelope{}, &CorruptError{Key: key, Reason: "has an unknown operation"}
	}
	return env, nil
}

// sealedJournal opens a journal record without knowing its document in advance.
func (s *Store) sealedJournal(key string, raw []byte) (envelope, error) {
	plain, err := s.sealer.Open(raw)
	if err != nil {
		return envelope{}, &CorruptError{Key: key, Reason: "does not decrypt", Err: err}
	}
	env, err := decodeEnvelope(plain, magicJournal)
	if err != nil {
		return envelope{}, &CorruptError{Key: key, Reason: "does not decode", Err: err}
	}
	return env, nil
}

func parseDocName(name string) (Doc, error) {
	for _, k := range Kinds {
		p := k.String() + "-"
		if strings.HasPrefix(name, p) {
			d := Doc{Kind: k, ID: name[len(p):]}
			return d, d.validate()
		}
	}
	return Doc{}, fmt.Errorf("metastore: %q: %w", printable(name), ErrInvalidDoc)
}

// Bucket returns the bucket the Store works on.
func (s *Store) Bucket() *storage.Bucket { return s.bucket }
