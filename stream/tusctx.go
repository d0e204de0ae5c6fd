package stream

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ownContext is the context the store works in for one call from tusd: it ends when
// tusd's context tc does and carries the request's state, but no lookup in it leads
// back to tc. Every DataStore, Upload and Lock method that does I/O starts with it.
//
// Why: tusd's request context (*handler.httpContext, in v2.8.0 and still in v2.10.1)
// has a value-receiver Value method, so each lookup copies the whole struct, while
// the handler's goroutine goes on assigning its fields (c.log = c.log.With(...)).
// A lookup from any other goroutine is therefore a data race (tus/tusd#1192). Storage
// clients make such lookups from their own goroutines (an HTTP transport's read loop
// cancels the request context it was given, which looks up the parent's cancelCtx;
// the store's own part writers run in goroutines too), and go test -race caught it
// on S3. Here tc is only used on the calling goroutine: its state is copied and its
// Done channel taken, and afterwards only that channel is watched.
func ownContext(tc context.Context) (context.Context, context.CancelFunc) {
	base := context.Background()
	if rs := stateOf(tc); rs != nil {
		base = contextWith(base, rs)
	}
	ctx, cancel := context.WithCancel(base)
	if done := tc.Done(); done != nil {
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// reqState carries what the HTTP glue knows about a request into the store (tusd
// passes the request's context values through) and what the store learns back out
// to the response headers.
type reqState struct {
	conf          string
	owner         string // the token's subject; may be empty
	admin         bool
	method        string
	contentLength int64
	checksum      *checksum
	// client is the request's own context: it ends when the client goes away, while
	// tusd's context lives on for a grace period so that received bytes get stored.
	client context.Context
	// bodyRead counts the bytes tusd read from the request body, including what it
	// read past its limit (Upload-Length - offset): tusd cuts such a body at the limit
	// and reports the rest only as an error after the store has taken the bytes (see
	// overRead).
	bodyRead atomic.Int64

	// origin is the request's scheme and host, as tusd makes its Location of them.
	origin string
	// waitOnly: the request waits for a held lease instead of asking its holder to
	// let go (GET …/result, which a client polls while its own PATCH runs).
	waitOnly bool

	// set by the store
	created string // the tus id of the upload this POST created
	expires time.Time
	result  *Result

	causeMu sync.Mutex
	causes  []notedCause // the errors tusError classified, in order
}

// notedCause is an error tusError classified, with the status it made of it.
type notedCause struct {
	status int
	err    error
}

// noteCause keeps an error classified for the request. A request may classify
// several (one it recovered from, then the one that ended it); takeCause picks the
// one behind the answer.
func (rs *reqState) noteCause(status int, err error) {
	rs.causeMu.Lock()
	defer rs.causeMu.Unlock()
	rs.causes = append(rs.causes, notedCause{status, err})
}

// takeCause returns the last error noted with the answer's status, or else the last
// one noted, and forgets them.
func (rs *reqState) takeCause(status int) error {
	rs.causeMu.Lock()
	defer rs.causeMu.Unlock()
	causes := rs.causes
	rs.causes = nil
	for i := len(causes) - 1; i >= 0; i-- {
		if causes[i].status == status {
			return causes[i].err
		}
	}
	if len(causes) > 0 {
		return causes[len(causes)-1].err
	}
	return nil
}

// overRead reports whether the request's body held more bytes than the accepted
// ones the store took: tusd stopped reading it at its limit (a body without
// Content-Length past Upload-Length), and will answer 413 however the store ends.
// When the store sees the end of its body, tusd has already read the byte past the
// limit (http.MaxBytesReader asks for one byte more), so the count is final then.
func (rs *reqState) overRead(accepted int64) bool {
	return rs != nil && rs.bodyRead.Load() > accepted
}

// countingBody counts the bytes read from a request body into n.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type reqStateKey struct{}

func contextWith(ctx context.Context, rs *reqState) context.Context {
	return context.WithValue(ctx, reqStateKey{}, rs)
}

func stateOf(ctx context.Context) *reqState {
	rs, _ := ctx.Value(reqStateKey{}).(*reqState)
	return rs
}
