package conference

import (
	"context"
	"errors"
	"time"
)

// lockOpen returns the conference open and locked (c.mu held). A conference that
// CloseIdle closed between acquire and the lock is opened again. touch records the
// use; the retention sweep does not touch, so that sweeping every conference does not
// keep every conference open. A request whose context ends while it waits for the
// lock (its client went away while a change held the conference) gives up.
func (e *Engine) lockOpen(ctx context.Context, id string, touch bool) (*conf, error) {
	for {
		c, err := e.acquire(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := c.mu.LockContext(ctx); err != nil {
			return nil, err
		}
		if !c.evicted {
			if touch {
				c.lastUsed = e.now()
			}
			return c, nil
		}
		c.mu.Unlock()
	}
}

// CloseIdle closes the open conferences that no request has used for idle: their
// dirty documents are written out (as by Close) and their memory is freed; the next
// request opens them again (reading conference.xml and replaying the journal). A
// conference with a content store under way is left open. It returns how many were
// closed, and the first error of a flush (that conference is closed anyway: its
// journal holds every acknowledged change).
//
// Without it a long-running server would keep every conference it ever opened, and
// the retention sweep opens them all.
func (e *Engine) CloseIdle(ctx context.Context, idle time.Duration) (int, error) {
	cutoff := e.now().Add(-idle)
	e.mu.Lock()
	candidates := make([]*conf, 0, len(e.open))
	for _, c := range e.open {
		candidates = append(candidates, c)
	}
	e.mu.Unlock()
	closed := 0
	var errs []error
	for _, c := range candidates {
		if ctx.Err() != nil {
			break
		}
		ok, err := e.closeIfIdle(ctx, c, cutoff)
		if ok {
			closed++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if closed > 0 {
		e.log.Debug("idle conferences closed", "conferences", closed)
	}
	return closed, errors.Join(errs...)
}

// idleCloseTimeout bounds the writes of one conference's idle close, as the periodic
// snapshot's are bounded: lecternd's idle loop calls CloseIdle with a context that
// never ends, and the close holds the conference's lock, so on a hung storage every
// request for the conference would wait for as long as the storage hangs. (They stop
// waiting when their own context ends; see lockOpen.) A close that fails loses
// nothing: the journal holds every acknowledged change.
const idleCloseTimeout = time.Minute

func (e *Engine) closeIfIdle(ctx context.Context, c *conf, cutoff time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, idleCloseTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.evicted || c.deleted || c.busy > 0 || c.lastUsed.After(cutoff) {
		return false, nil
	}
	// Lock order: c.mu, then e.mu (nothing takes them the other way round).
	e.mu.Lock()
	current := e.open[c.info.ID] == c
	e.mu.Unlock()
	if !current {
		return false, nil // replaced meanwhile (deleted and opened again)
	}
	// The conference stays in e.open until its store is closed, so that a request
	// meanwhile waits for c.mu (lockOpen) instead of opening the same files while
	// the close still writes them (a snapshot, then trimming the journal).
	c.evicted = true
	err := c.store.Close(ctx)
	e.mu.Lock()
	if e.open[c.info.ID] == c {
		delete(e.open, c.info.ID)
	}
	e.mu.Unlock()
	return true, err
}
