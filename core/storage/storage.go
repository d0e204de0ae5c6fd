package storage

import (
	"context"
	"io"
	"iter"
	"time"
)

// Attributes describe a stored object.
type Attributes struct {
	Key     string
	Size    int64
	Version string // opaque; changes on every successful Put. May be empty in List.
	// ModTime is the time the object was put (or last changed in place by Append):
	// never zero for a stored object, and List reports the same time as Stat (the
	// leftover sweeps and the engine's age checks compare them).
	ModTime time.Time
}

// Condition makes a Put conditional. The zero value is an unconditional put.
type Condition struct {
	// IfNotExists: create only; fail with ErrPrecondition if the key exists.
	IfNotExists bool
	// IfVersion: replace only if the current version equals this; fail with
	// ErrPrecondition if it differs or the key is missing.
	IfVersion string
}

// IsZero reports whether the condition is empty.
func (c Condition) IsZero() bool { return !c.IfNotExists && c.IfVersion == "" }

// PutOptions tune a Put.
type PutOptions struct {
	Condition
	// Size is the number of bytes the reader will yield, or -1 (or 0 with an empty
	// reader) when unknown. Backends may use it to choose an upload strategy; they must
	// not trust it for correctness.
	Size int64
}

// Capabilities declare what a backend can do. The conformance suite skips checks by
// capability, never by backend name.
type Capabilities struct {
	// ConditionalCreate: Put honours Condition.IfNotExists atomically.
	ConditionalCreate bool
	// ConditionalReplace: Put honours Condition.IfVersion atomically.
	ConditionalReplace bool
	// SharedAcrossInstances: separate driver instances (and processes) over the same
	// storage see each other's writes and conditional puts are atomic between them.
	SharedAcrossInstances bool
	// CaseInsensitive: keys that differ only in letter case name the same object (a
	// Windows share). The engine only produces lower-case keys.
	CaseInsensitive bool
	// MaxKeyLength, when not zero, is lower than storage.MaxKeyLength.
	MaxKeyLength int
	// MaxSegmentLength, when not zero, is lower than storage.MaxSegmentLength (a
	// backend that lengthens object names on a server with a per-segment limit).
	MaxSegmentLength int
	// FileTree: keys are stored as file paths in a folder tree (disk, SMB), so one key
	// cannot be both an object and the parent of other keys ("a" and "a/b"). A put that
	// would need that fails with ErrInvalidArgument and changes nothing. The engine
	// never makes such pairs of keys (its layout is folders of files, as the original
	// system's); the suite runs its checks that need them only when this is false.
	FileTree bool
}

// Driver is what a backend implements. Its methods are only ever called by Bucket,
// with valid keys, a valid prefix, offset >= 0, length >= -1 and a consistent
// Condition; a driver need not repeat those checks. Every method must honour context
// cancellation and return errors classified with the categories of this package,
// with one exception: when the caller's reader of a Put or Append fails, its error is
// returned (wrapped with %w, or as it is) with no category of the driver's, since it
// is the caller's failure, not the storage's.
type Driver interface {
	// Put stores the bytes of r under key atomically, subject to opts.Condition.
	// When it returns nil the object is durable (on disk, fsynced, with its folder;
	// acknowledged by the server): a crash or power loss after that keeps it, since
	// the engine tells clients the upload is stored at that moment.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Attributes, error)
	// Get opens a byte range of the object. length -1 means "to the end". The returned
	// Attributes describe the whole object.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Attributes, error)
	// Stat returns the object's attributes.
	Stat(ctx context.Context, key string) (Attributes, error)
	// Delete removes the object; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List yields the objects whose keys start with prefix, in ascending byte order of
	// key. It stops at the first error, which it yields once.
	List(ctx context.Context, prefix string) iter.Seq2[Attributes, error]
	// Capabilities declares what the driver supports.
	Capabilities() Capabilities
	// Close releases the driver's resources. Using a closed driver returns ErrClosed.
	Close() error
}

// Mover is an optional Driver extension for backends that can give an object a new
// name without copying its bytes (a rename on a file system). Bucket.Move uses it and
// answers ErrUnsupported for a driver without it; callers then copy. It is an
// interface of its own rather than a capability flag because wrappers (prefixed,
// faulty) must opt in explicitly: one that does not forward Move hides it, which is
// safe, where a flag passed through would promise what the wrapper cannot do.
type Mover interface {
	// Move renames the object src to dst, which must not exist. It fails with
	// ErrPrecondition if dst exists and with ErrNotFound if src does not, changing
	// nothing. On success dst holds exactly src's bytes and src is gone; the
	// returned Attributes describe dst (its Version may differ from src's). A crash
	// during a Move may leave the bytes under both names, never under neither.
	Move(ctx context.Context, src, dst string) (Attributes, error)
}

// Appender is an optional Driver extension for backends that can write after the
// bytes of an existing object in place (a file). The upload stream builds a
// resumable upload in one object with it, so that the upload's bytes are written
// once however many requests bring them. Bucket.Append answers ErrUnsupported for a
// driver without it. Like Mover, it is an interface rather than a capability flag so
// that a wrapper must opt in.
type Appender interface {
	// Append cuts the object at key to offset bytes, writes the bytes of r after
	// them, makes the object durable and returns its new Attributes (with a new
	// Version). The object must exist (ErrNotFound), be at least offset bytes long
	// and, when ifVersion is not empty, have that version (ErrPrecondition); a
	// refused Append changes nothing. Two Appends of one key never interleave: the
	// second fails with ErrPrecondition or waits for the first (and then, if it named
	// the old version, fails too), across instances when SharedAcrossInstances.
	//
	// Unlike Put, Append is not atomic. Readers may see the bytes arrive, and an
	// Append that fails after it began (its reader failed, its context ended, the
	// process stopped) leaves the first offset bytes as they were but the object's
	// length and every byte after offset undefined (and, if it changed any byte, its
	// version too). Callers keep their own record of how much of the object they
	// have committed and append at that offset again. An Append racing a replacing
	// Put, a Move or a Delete of the same key may be lost to it: appending is for
	// objects that one writer owns.
	Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (Attributes, error)
}

// Composer is an optional Driver extension for backends that can make an object from
// the concatenation of others inside the storage, without the bytes passing through
// the caller (S3: a multipart upload whose parts are server-side copies). The upload
// stream uses it on backends that cannot append, to turn the parts of a finished
// upload into its content file. Bucket.Compose answers ErrUnsupported for a driver
// without it.
type Composer interface {
	// Compose creates dst from the bytes of srcs, one after the other, atomically and
	// create-only: dst must not exist (ErrPrecondition), and of racing Composes (and
	// create-only Puts) of one dst exactly one succeeds. The sources are left as they
	// are. A missing source is ErrNotFound; a list outside ComposeLimits is
	// ErrInvalidArgument; either way nothing is created.
	Compose(ctx context.Context, dst string, srcs []string) (Attributes, error)
	// ComposeLimits returns the least size of every source but the last (0: none) and
	// the most sources in one Compose (0: no limit).
	ComposeLimits() (minSourceSize int64, maxSources int)
}

// LeftoverRemover is an optional Driver extension for backends where a write cut
// short by the death of its process (kill -9, a power cut) leaves something behind
// that no key names, which List and Get do not show but the storage keeps: S3's
// incomplete multipart uploads (billed), the temporary files of disk and SMB puts,
// SMB's key locks and append claims. The engine's periodic sweep calls it.
type LeftoverRemover interface {
	// RemoveLeftovers removes the leftovers of unfinished writes that began before
	// the given time, under this driver's keys only, and returns how many it removed.
	// A write still running that began before it fails and stores nothing, so
	// callers pass a time well before the longest write could have begun. Stored
	// objects are never touched.
	RemoveLeftovers(ctx context.Context, before time.Time) (int, error)
}
