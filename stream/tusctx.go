package stream

import "context"

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
