package stream

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// Engine is what the upload stream needs of the conference engine
// (*conference.Engine implements it).
type Engine interface {
	CheckUploadPending(ctx context.Context, confID string, p conference.Purpose, size, pending int64) error
	UploadRoom(ctx context.Context, confID string, p conference.Purpose) (int64, error)
	StoreContentAs(ctx context.Context, confID string, p conference.Purpose, name string, key encryption.Key, r io.Reader, sizeHint int64) (conference.Stored, error)
	AdoptEncrypted(ctx context.Context, confID string, p conference.Purpose, name string, key encryption.Key, srcKeys []string, plainSize int64) (conference.Stored, error)
	FinishStored(ctx context.Context, confID string, st conference.Stored) error
	AddHandout(ctx context.Context, confID string, p conference.HandoutParams) (*metadata.FileSet, error)
	ListHandouts(ctx context.Context, confID string) ([]*metadata.FileSet, error)
	DeleteContent(ctx context.Context, confID, name string) error
	Location(ctx context.Context, confID string) (layout.Conference, error)
	Limits() conference.Limits
}

// UploadKeySize is the size of Config.UploadKey.
const UploadKeySize = 32

// Defaults of Config.
const (
	DefaultExpiry    = 24 * time.Hour
	DefaultDirectMax = 8 << 20
	// DefaultPartMax: on a backend that cannot append (S3), a request is stored as
	// parts of at most this much ciphertext, each a commit point, so a crash of the
	// process during a long PATCH loses at most one part's worth of it. Large enough
	// that the parts are few and over S3's 5 MiB least part size for composing.
	DefaultPartMax = 64 << 20
	// DefaultLockTTL bounds how long a crashed instance's lease keeps its uploads
	// locked: a waiter takes the lease over once it is this old, well within its
	// wait for the lock (DefaultLockWait), so the client's first request after a
	// crash succeeds. Live holders renew every TTL/3.
	DefaultLockTTL  = 10 * time.Second
	DefaultLockWait = 20 * time.Second
	// DefaultMaxOpenUploads caps a conference's unfinished uploads: enough for a
	// presenter sending a deck's files in parallel, few enough that counting them
	// at each creation stays cheap.
	DefaultMaxOpenUploads = 32
)

// Config configures the upload stream.
type Config struct {
	// Engine stores the finished content; required.
	Engine Engine
	// Bucket holds the unfinished uploads under layout.UploadRoot; required. It is
	// normally the engine's bucket, so that the engine's retention sweep and
	// conference deletion also remove stale uploads.
	Bucket *storage.Bucket
	// UploadKey wraps the content keys of unfinished uploads in their info objects
	// (AES-256-GCM, bound to the upload). Derive it from the server KEK; it must be
	// the same on every instance that serves the same uploads. Required (not zero).
	UploadKey [UploadKeySize]byte
	// PreviousUploadKeys still open the records of uploads begun before a KEK
	// rotation (derived from the previous KEKs); new records use UploadKey.
	PreviousUploadKeys [][UploadKeySize]byte
	// Expiry is how long an unfinished upload may be resumed (Upload-Expires).
	// Keep it at most the engine's Retention.UploadAge, which removes older upload
	// objects anyway. Default DefaultExpiry.
	Expiry time.Duration
	// DirectMax: an upload whose first PATCH carries all of it, up to this size,
	// streams straight into the content store (one write instead of parts + join).
	// An interrupted direct PATCH is resumed from 0, so keep it small; negative
	// disables the fast path. Default DefaultDirectMax.
	DirectMax int64
	// PartMax bounds the ciphertext of one part object where uploads are stored as
	// parts (backends without storage.Appender); it is rounded down to whole
	// segments, at least one. Default DefaultPartMax.
	PartMax int64
	// LockTTL is how long a cross-instance lease lasts without renewal. It must be
	// well over the clock skew between instances. Default DefaultLockTTL.
	LockTTL time.Duration
	// LockWait is how long a request waits for an upload's lease before it answers
	// 423 with Retry-After (tusd's AcquireLockTimeout). Keep it over LockTTL, so
	// that a request after a crash outwaits the dead holder's lease. Default
	// DefaultLockWait.
	LockWait time.Duration
	// LocalLocksOnly uses an in-process lock instead of the storage lease: only
	// correct when a single instance serves uploads. It is forced when the bucket
	// lacks conditional create.
	LocalLocksOnly bool
	// MaxOpenUploads caps the unfinished uploads of one conference (created, not yet
	// completed, terminated or expired); one more is refused with 413. Default
	// DefaultMaxOpenUploads; negative means no cap.
	MaxOpenUploads int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// capRead, when set (by tests of this package), is called under the quota
	// entry's lock each time a deferred-length PATCH takes bytes, with what the
	// upload then holds: a test waits on it instead of sleeping.
	capRead func(id string, held int64)
}

func (c *Config) setDefaults() error {
	if c.Engine == nil || c.Bucket == nil {
		return errors.New("stream: Config.Engine and Config.Bucket are required")
	}
	if c.UploadKey == ([UploadKeySize]byte{}) {
		return errors.New("stream: Config.UploadKey is required")
	}
	if c.Expiry <= 0 {
		c.Expiry = DefaultExpiry
	}
	if c.DirectMax == 0 {
		c.DirectMax = DefaultDirectMax
	}
	if c.PartMax <= 0 {
		c.PartMax = DefaultPartMax
	}
	if c.LockTTL <= 0 {
		c.LockTTL = DefaultLockTTL
	}
	if c.LockWait <= 0 {
		c.LockWait = DefaultLockWait
	}
	if c.MaxOpenUploads == 0 {
		c.MaxOpenUploads = DefaultMaxOpenUploads
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if !c.Bucket.Capabilities().ConditionalCreate {
		c.LocalLocksOnly = true
	}
	return nil
}

// uploadKeyInfo is the HKDF info of DeriveUploadKey; changing it orphans every
// unfinished upload (their records no longer open).
const uploadKeyInfo = "lectern/stream/upload-key/v1"

// DeriveUploadKey derives Config.UploadKey from the server's KEK with HKDF-SHA256, so
// that every instance holding the KEK derives the same key and the KEK itself is
// never used for two purposes.
func DeriveUploadKey(kek []byte) ([UploadKeySize]byte, error) {
	var k [UploadKeySize]byte
	if len(kek) < 32 {
		return k, errors.New("stream: the KEK must be at least 32 bytes")
	}
	b, err := hkdf.Key(sha256.New, kek, nil, uploadKeyInfo, UploadKeySize)
	if err != nil {
		return k, err
	}
	copy(k[:], b)
	return k, nil
}
