package conference

import (
	"context"
	"errors"
	"fmt"

	"github.com/lectern/lectern/core/keywrap"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// UnknownKEKError reports a conference.xml whose master key is wrapped with a KEK
// this engine does not have (neither Config.KEK nor one of Config.PreviousKEKs). It
// matches keywrap.ErrUnwrap, as a wrong KEK does.
type UnknownKEKError struct{ ID string }

func (e *UnknownKEKError) Error() string {
	return fmt.Sprintf("wrapped with KEK %q, which this server does not have", e.ID)
}

func (e *UnknownKEKError) Unwrap() error { return keywrap.ErrUnwrap }

// kek returns the KEK named id.
func (e *Engine) kek(id string) ([keywrap.KeySize]byte, bool) {
	if id == e.cfg.KEKID {
		return e.cfg.KEK, true
	}
	k, ok := e.cfg.PreviousKEKs[id]
	return k, ok
}

// RewrapReport says what RewrapConferences did.
type RewrapReport struct {
	Rewrapped []string // conferences whose master key is now wrapped with the current KEK
	Current   int      // conferences that already were
}

// RewrapConferences wraps every conference's master key with the current KEK, where
// conference.xml names a previous one: the second half of a KEK rotation (the first
// is starting the engine with the new KEK and the old ones in PreviousKEKs). Nothing
// else is re-encrypted: content keys are per file and metadata is sealed with the
// master key, which does not change. Each conference is rewritten under its lock, so
// that no change of conference.xml (EndConference) is lost; it can be run again, and
// a conference that fails is reported and the others go on.
func (e *Engine) RewrapConferences(ctx context.Context) (RewrapReport, error) {
	var rep RewrapReport
	ids, err := e.conferenceIDs(ctx)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rewrapped, err := e.rewrap(ctx, id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			// deleted meanwhile
		case err != nil:
			errs = append(errs, fmt.Errorf("conference %q: %w", id, err))
		case rewrapped:
			rep.Rewrapped = append(rep.Rewrapped, id)
		default:
			rep.Current++
		}
	}
	if len(rep.Rewrapped) > 0 {
		e.log.Info("conference master keys rewrapped", "kek", e.cfg.KEKID, "conferences", len(rep.Rewrapped))
	}
	return rep, errors.Join(errs...)
}

func (e *Engine) rewrap(ctx context.Context, id string) (bool, error) {
	// touch false: rewrapping is no use; CloseIdle may close what this opened.
	c, err := e.lockOpen(ctx, id, false)
	if err != nil {
		return false, err
	}
	defer c.mu.Unlock()
	if c.deleted {
		return false, storage.NewError(storage.ErrNotFound, "rewrap", id, nil)
	}
	// Written only if unchanged since it was read: another server may have ended the
	// conference meanwhile, and its end must not be written over. Then read again.
	for attempt := 1; ; attempt++ {
		done, err := e.rewrapFile(ctx, c)
		if errors.Is(err, storage.ErrPrecondition) && attempt < 3 {
			continue
		}
		return done, err
	}
}

// rewrapFile rewraps the master key in conference.xml, written with replace-if-version
// of the file it read. c.mu held.
func (e *Engine) rewrapFile(ctx context.Context, c *conf) (bool, error) {
	data, attrs, err := e.readBounded(ctx, c.loc.ConferenceFile(), metadata.MaxConferenceSize)
	if err != nil {
		return false, err
	}
	doc, err := metadata.UnmarshalConference(data)
	if err != nil {
		return false, damaged(fmt.Sprintf("conference %q: conference.xml", c.loc.ID), err)
	}
	if doc.KEKID == e.cfg.KEKID {
		return false, nil
	}
	// The open conference holds the master key, unwrapped when it was opened. Only
	// the wrapping changes: the document is written back with everything else it
	// holds, attributes and elements this version does not know included.
	wrapped, err := keywrap.Wrap(e.cfg.KEK, c.master, e.cfg.KEKID, c.loc.ID)
	if err != nil {
		return false, err
	}
	doc.KEKID, doc.WrappedMasterKey = e.cfg.KEKID, wrapped
	out, err := doc.Marshal()
	if err != nil {
		return false, err
	}
	_, err = e.bucket.PutBytes(ctx, c.loc.ConferenceFile(), out, storage.Condition{IfVersion: attrs.Version})
	return true, err
}
