package metastore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// Ids run aaa, aab, …, aaz, aba, …, zzz, then aaaa, …, zzzz, then five letters, and so
// on: the seeds' scheme, extended past zzz instead of failing. An id's number is its
// position in that sequence (aaa = 0).
const (
	minIDLen = 3
	maxIDLen = 12 // 26^12 ids are more than any conference allocates
)

// FormatID returns the id with number n.
func FormatID(n uint64) string {
	l, block := minIDLen, pow26(minIDLen)
	for n >= block && l < maxIDLen {
		n -= block
		l++
		block = pow26(l)
	}
	b := make([]byte, l)
	for i := l - 1; i >= 0; i-- {
		b[i] = byte('a' + n%26)
		n /= 26
	}
	return string(b)
}

// ParseID returns the number of id, and false if id is not a valid id.
func ParseID(id string) (uint64, bool) {
	if len(id) < minIDLen || len(id) > maxIDLen {
		return 0, false
	}
	var n, base uint64
	for l := minIDLen; l < len(id); l++ {
		base += pow26(l)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < 'a' || c > 'z' {
			return 0, false
		}
		n = n*26 + uint64(c-'a')
	}
	return base + n, true
}

func pow26(l int) uint64 {
	p := uint64(1)
	for range l {
		p *= 26
	}
	return p
}

// NextID allocates a new id of kind. An id is returned once: never again by this or
// any other Store over the same folder, also after restarts and crashes. Ids may be
// skipped (a crash after allocating loses that id), never repeated (save after a
// damaged id file is rebuilt: see nextIDSwap).
//
// With a backend that replaces conditionally, the max-id file itself is the counter:
// read it with its version, write last+1 with replace-if-version (or create-only when
// it is missing); of racing allocators exactly one wins each number and the others
// retry. Without conditional replace, each id is claimed by a create-only claim object
// (ids/<kind>-<id>) and the max-id file is only a hint of where to start.
func (s *Store) NextID(ctx context.Context, kind Kind) (string, error) {
	if !kind.valid() {
		return "", fmt.Errorf("metastore: %v: %w", kind, ErrInvalidDoc)
	}
	if err := s.checkOpen(); err != nil {
		return "", err
	}
	// Serialise this Store's allocators so that only other Stores cause retries.
	mu := &s.idMu[kind]
	mu.Lock()
	defer mu.Unlock()
	if s.caps.ConditionalReplace {
		return s.nextIDSwap(ctx, kind)
	}
	return s.nextIDClaim(ctx, kind)
}

const maxIDAttempts = 1000

// idRebuildMargin is how far past the highest id in use a damaged id file is rebuilt:
// ids of documents deleted since are not to be handed out again, and nothing but the
// damaged file remembered them.
const idRebuildMargin = 1000

func (s *Store) nextIDSwap(ctx context.Context, kind Kind) (string, error) {
	for attempt := 0; attempt < maxIDAttempts; attempt++ {
		last, version, err := s.readMaxID(ctx, kind)
		next := last + 1
		switch {
		case errors.Is(err, ErrCorrupt) && version != "":
			// Damaged (bit rot, a bad restore): rebuilt above every id in use, with a
			// margin for ids of documents deleted since, whose traces are gone.
			// Failing instead would stop the conference from ever making another.
			if next, err = s.firstFreeID(ctx, kind); err != nil {
				return "", err
			}
			next += idRebuildMargin
			s.log.ErrorContext(ctx, "metastore: id file damaged; rebuilt from the ids in use", "kind", kind.String(), "next", FormatID(next))
		case err != nil:
			return "", err
		case version == "":
			// No id file yet. Documents may exist all the same (a folder copied
			// from elsewhere): never hand out an id that is in use.
			if next, err = s.firstFreeID(ctx, kind); err != nil {
				return "", err
			}
		default:
			// A valid file behind the ids in use (restored from an older backup, copied
			// from another conference) would hand out a live document's id, and the
			// put of the "new" document would replace it; ids between it and the
			// highest in use may be of documents deleted since. So every allocation
			// compares it with the highest id in use (a listing, for an operation as
			// rare as creating a slide set) and, behind, moves past it with the margin
			// a damaged file gets.
			floor, err := s.liveFloor(ctx, kind)
			if err != nil {
				return "", err
			}
			if next < floor {
				next = floor + idRebuildMargin
				s.log.ErrorContext(ctx, "metastore: id file behind the ids in use; moved past them", "kind", kind.String(), "next", FormatID(next))
			}
		}
		cond := storage.Condition{IfVersion: version, IfNotExists: version == ""}
		if err := s.writeMaxID(ctx, kind, next, cond); err != nil {
			if errors.Is(err, storage.ErrPrecondition) {
				if err := backoff(ctx, attempt); err != nil {
					return "", err
				}
				continue
			}
			return "", err
		}
		return FormatID(next), nil
	}
	return "", fmt.Errorf("metastore: allocate %v id: gave up after %d contended attempts: %w", kind, maxIDAttempts, storage.ErrUnavailable)
}

func (s *Store) nextIDClaim(ctx context.Context, kind Kind) (string, error) {
	start, err := s.claimStart(ctx, kind)
	if err != nil {
		return "", err
	}
	n := max(start, s.nextClaim[kind])
	for attempt := 0; attempt < maxIDAttempts; attempt++ {
		id := FormatID(n)
		key := kindTable[kind].claim + id
		sealed, err := s.seal(envelope{magic: magicIDFile, name: key, data: []byte(id)})
		if err != nil {
			return "", err
		}
		_, err = s.bucket.PutBytes(ctx, s.prefix+key, sealed, storage.Condition{IfNotExists: true})
		if errors.Is(err, storage.ErrPrecondition) {
			n++
			continue
		}
		if err != nil {
			return "", fmt.Errorf("metastore: claim %v id: %w", kind, err)
		}
		s.nextClaim[kind] = n + 1
		// The hint may go backwards under a race between Stores; that only costs
		// the next allocator a few extra claims, because the claims decide.
		if err := s.writeMaxID(ctx, kind, n, storage.Condition{}); err != nil {
			s.log.WarnContext(ctx, "metastore: id hint not updated", "kind", kind.String(), "err", err)
		}
		return id, nil
	}
	return "", fmt.Errorf("metastore: allocate %v id: %d claims taken in a row: %w", kind, maxIDAttempts, storage.ErrUnavailable)
}

// claimStart returns where claiming starts: after the hint, or, if the hint is
// missing or damaged, after the highest claim found.
func (s *Store) claimStart(ctx context.Context, kind Kind) (uint64, error) {
	last, version, err := s.readMaxID(ctx, kind)
	if err == nil && version != "" {
		// A hint behind the ids in use, restored without the claims made since, as
		// nextIDSwap checks its counter.
		floor, err := s.liveFloor(ctx, kind)
		if err != nil {
			return 0, err
		}
		if last+1 < floor {
			s.log.ErrorContext(ctx, "metastore: id hint behind the ids in use; moved past them", "kind", kind.String(), "next", FormatID(floor+idRebuildMargin))
			return floor + idRebuildMargin, nil
		}
		return last + 1, nil
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return 0, err
	}
	if err != nil {
		s.log.WarnContext(ctx, "metastore: id hint damaged, rebuilding from claims", "kind", kind.String(), "err", err)
	}
	next, err := s.firstFreeID(ctx, kind)
	if err != nil {
		return 0, err
	}
	prefix := s.prefix + kindTable[kind].claim
	for a, err := range s.bucket.List(ctx, prefix) {
		if err != nil {
			return 0, fmt.Errorf("metastore: list %v id claims: %w", kind, err)
		}
		if n, ok := ParseID(a.Key[len(prefix):]); ok && n+1 > next {
			next = n + 1
		}
	}
	return next, nil
}

// firstFreeID returns the number after the highest id of kind that a document file or
// a journal record uses (0 if none): every document this Store has an entry for
// counts, deleted ones too, since their ids were handed out.
func (s *Store) firstFreeID(ctx context.Context, kind Kind) (uint64, error) {
	return s.afterIDsInUse(ctx, kind, func(*entry) bool { return true })
}

// liveFloor is firstFreeID counting only the documents this Store knows were made (they
// exist, or a change deleted them: a generation), not every entry: a Get of a missing
// id makes one, and asking for an id before it is made must not move the counter a
// thousand ids on (nextIDSwap's check of a stale id file runs at every allocation).
// A document deleted and trimmed from the journal before the restore leaves no trace
// here: its id may be handed out again, as after a damaged id file.
func (s *Store) liveFloor(ctx context.Context, kind Kind) (uint64, error) {
	return s.afterIDsInUse(ctx, kind, func(e *entry) bool {
		v := e.cur.Load()
		return v != nil && (v.exists || v.gen > 0)
	})
}

// afterIDsInUse returns the number after the highest id of kind among the document
// files and the entries counts accepts.
func (s *Store) afterIDsInUse(ctx context.Context, kind Kind, counts func(*entry) bool) (uint64, error) {
	var next uint64
	prefix := s.prefix + kindTable[kind].primary
	for a, err := range s.bucket.List(ctx, prefix) {
		if err != nil {
			return 0, fmt.Errorf("metastore: list %v: %w", kind, err)
		}
		if id, _, ok := parseDocKey(kind, a.Key[len(s.prefix):]); ok {
			n, _ := ParseID(id)
			next = max(next, n+1)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, e := range s.docs {
		if n, ok := ParseID(d.ID); ok && d.Kind == kind && counts(e) {
			next = max(next, n+1)
		}
	}
	return next, nil
}

// readMaxID returns the last used id number and the file's version; version "" means
// the file does not exist (no id allocated yet).
func (s *Store) readMaxID(ctx context.Context, kind Kind) (uint64, string, error) {
	key := kindTable[kind].maxID
	// Stat first when Get does not report versions: reading the version after the
	// content could pair old content with a newer version and hand out an id twice.
	var statVersion string
	if s.needStatForVersion.Load() {
		a, err := s.bucket.Stat(ctx, s.prefix+key)
		if errors.Is(err, storage.ErrNotFound) {
			return 0, "", nil
		}
		if err != nil {
			return 0, "", fmt.Errorf("metastore: read %s: %w", key, err)
		}
		statVersion = a.Version
	}
	raw, attrs, err := s.readSealed(ctx, key)
	var tooLarge *CorruptError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return 0, "", nil
	case errors.As(err, &tooLarge):
		v := attrs.Version
		if s.needStatForVersion.Load() {
			v = statVersion
		}
		return 0, v, err // damaged: rebuilt by nextIDSwap (when v is known)
	case err != nil:
		return 0, "", fmt.Errorf("metastore: read %s: %w", key, err)
	}
	version := attrs.Version
	if s.needStatForVersion.Load() || version == "" {
		if statVersion == "" {
			if s.needStatForVersion.Swap(true) {
				return 0, "", fmt.Errorf("metastore: read %s: the backend reports no object versions: %w", key, storage.ErrUnsupported)
			}
			return s.readMaxID(ctx, kind)
		}
		version = statVersion
	}
	// A damaged file is returned with its version, so that it can be replaced.
	e, err := s.open(key, raw, magicIDFile, key)
	if err != nil {
		return 0, version, err
	}
	n, ok := ParseID(string(e.data))
	if !ok {
		return 0, version, &CorruptError{Key: key, Reason: "holds no valid id"}
	}
	return n, version, nil
}

func (s *Store) writeMaxID(ctx context.Context, kind Kind, n uint64, cond storage.Condition) error {
	key := kindTable[kind].maxID
	sealed, err := s.seal(envelope{magic: magicIDFile, name: key, data: []byte(FormatID(n))})
	if err != nil {
		return err
	}
	if _, err := s.bucket.PutBytes(ctx, s.prefix+key, sealed, cond); err != nil {
		return fmt.Errorf("metastore: write %s: %w", key, err)
	}
	return nil
}

// backoff waits a little, randomised so that contending Stores spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(time.Millisecond)*int64(min(attempt+1, 20)))) + 100*time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
