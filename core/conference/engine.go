package conference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/keywrap"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
	"golang.org/x/sync/singleflight"
)

// Config configures an Engine. Bucket and KEK are required.
type Config struct {
	// Bucket holds every root (meta/, content/, compliance/, index/, uploads/).
	Bucket *storage.Bucket
	// KEK wraps conference master keys; KEKID names it (recorded in conference.xml
	// so that a rotated KEK can be told apart).
	KEK   [keywrap.KeySize]byte
	KEKID string
	// PreviousKEKs are earlier KEKs by id: conferences whose conference.xml names one
	// of them still open, and RewrapConferences moves them to KEK. New master keys
	// are only ever wrapped with KEK.
	PreviousKEKs map[string][keywrap.KeySize]byte
	// Limits; the zero value means DefaultLimits().
	Limits Limits
	// SnapshotInterval of the metadata store (default five minutes).
	SnapshotInterval time.Duration
	// Retention; the zero value means DefaultRetention(), and a zero age or TTL in
	// an otherwise set Retention means that field's default (Grace is kept: 0 means
	// delete at expiry).
	Retention Retention
	// Compliance copies (off by default).
	Compliance Compliance
	// Events receives change notifications; nil means no events.
	Events *events.Hub
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Compliance configures the optional plain copies under the compliance root.
type Compliance struct {
	Enabled bool
	// Required makes a failed compliance copy fail the change (the original could
	// stop the meeting when compliance logging failed); otherwise it is logged.
	Required bool
}

// Engine is the conference engine. It is safe for concurrent use.
type Engine struct {
	cfg    Config
	bucket *storage.Bucket
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	open    map[string]*conf // by conference id
	closed  bool
	opening singleflight.Group
	// exclusive holds, by id, the CreateConference or DeleteConference under way;
	// its channel is closed when it ends. While one runs, the conference is not
	// opened: an open would write into the folders being emptied (replaying the
	// journal heals copies of documents), and content stored through it could land
	// after the delete had listed its folder. An open that began before the delete
	// does not put the conference back into open. Creates and deletes of one id run
	// one after another: a delete still running would remove a conference created
	// after another delete had freed the id, and a delete that ran between a create's
	// index entry and its conference.xml would answer "deleted" before the create
	// answered "created", and leave that conference.xml behind.
	exclusive map[string]exclusiveOp
	// unfinishedCreates holds, by id, the organizer hash of creates that failed and
	// may have left their index entry (see noteUnfinishedCreate).
	unfinishedCreates map[string]string
}

// conf is an open conference: its master key and metadata store. mu serialises the
// read-modify-write of its documents.
type conf struct {
	loc    layout.Conference
	info   Info
	master encryption.Key
	store  *metastore.Store
	mu     confMutex
	usage  *usage
	// deleted is set (c.mu held) when DeleteConference removes the conference, for
	// requests that acquired it before.
	deleted bool
	// evicted is set (c.mu held) when CloseIdle closes the conference; a request
	// that acquired it before opens it again (lockOpen).
	evicted bool
	// lastUsed is when a request last locked the conference (c.mu held), and busy
	// counts content stores under way, which hold quota in usage: CloseIdle leaves
	// a conference alone while either says it is in use.
	lastUsed time.Time
	busy     int
}

// New returns an engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Bucket == nil {
		return nil, fmt.Errorf("%w: engine needs a bucket", ErrInvalidInput)
	}
	if cfg.KEK == ([keywrap.KeySize]byte{}) {
		return nil, fmt.Errorf("%w: engine needs a key-encryption key", ErrInvalidInput)
	}
	if cfg.KEKID == "" {
		cfg.KEKID = "kek-1"
	}
	if _, clash := cfg.PreviousKEKs[cfg.KEKID]; clash {
		return nil, fmt.Errorf("%w: a previous KEK has the current KEK's id %q", ErrInvalidInput, cfg.KEKID)
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits()
	}
	if cfg.Retention == (Retention{}) {
		cfg.Retention = DefaultRetention()
	}
	cfg.Retention = cfg.Retention.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{cfg: cfg, bucket: cfg.Bucket, log: cfg.Logger, now: cfg.Now, open: map[string]*conf{}, exclusive: map[string]exclusiveOp{},
		unfinishedCreates: map[string]string{}}, nil
}

// Bucket returns the engine's bucket.
func (e *Engine) Bucket() *storage.Bucket { return e.bucket }

// Limits returns the limits in force.
func (e *Engine) Limits() Limits { return e.cfg.Limits }

// Close flushes every open conference's metadata (a snapshot of all dirty
// documents). Nothing acknowledged is lost even if it fails: the journal holds it.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	open := e.open
	e.open = map[string]*conf{}
	e.mu.Unlock()
	var errs []error
	for _, c := range open {
		c.mu.Lock()
		if !c.evicted { // else CloseIdle has closed it
			c.evicted = true
			if err := c.store.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("conference %s: %w", c.info.ID, err))
			}
		}
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Flush writes every open conference's dirty documents now.
func (e *Engine) Flush(ctx context.Context) error {
	e.mu.Lock()
	open := make([]*conf, 0, len(e.open))
	for _, c := range e.open {
		open = append(open, c)
	}
	e.mu.Unlock()
	var errs []error
	for _, c := range open {
		c.mu.Lock()
		if !c.evicted && !c.deleted { // closing has flushed them
			if err := c.store.Snapshot(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (e *Engine) publish(confID, kind string, audience events.Audience, data any) {
	if e.cfg.Events != nil {
		e.cfg.Events.Publish(confID, events.Event{Kind: kind, Audience: audience, Data: data})
	}
}

// sealer encrypts metadata files with the conference master key in the content
// encryption format.
type sealer struct{ key encryption.Key }

func (s sealer) Seal(p []byte) ([]byte, error) { return encryption.Seal(s.key, p) }
func (s sealer) Open(c []byte) ([]byte, error) { return encryption.Open(s.key, c) }
