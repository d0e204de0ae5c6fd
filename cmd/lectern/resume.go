package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// resumingBody is the body of a content GET that picks up where it broke off. When
// reading fails the way a dropped connection or a restarting server makes it fail, it
// asks for the rest (Range: bytes=<next>-<last>, If-Match: the first answer's ETag, so
// that bytes of a replaced object are never spliced onto the first one's) and goes on,
// after a pause that grows, up to retries failures in a row. The reader after it (the
// decryptor) sees one unbroken stream, so what is written is authenticated as before.
//
// Written by hand: net/http retries nothing once a response has begun, and the
// retrying HTTP clients (hashicorp/go-retryablehttp and the like) retry whole requests,
// not the rest of a body.
type resumingBody struct {
	ctx     context.Context
	cl      *client
	url     string
	etag    string
	next    int64 // the object's offset of the next byte to read
	last    int64 // the object's offset of the last byte wanted
	body    io.ReadCloser
	retries int
	failed  int // failures in a row
	// notify, when set, is told of each failure that is retried and the pause before it.
	notify func(err error, at int64, wait time.Duration)
}

// newResumingBody wraps the body of resp, which holds bytes first..last of the
// object at url, whose ETag resp carries. Without an ETag there is no safe resume,
// and the body is returned as it is.
func newResumingBody(ctx context.Context, cl *client, url string, resp *http.Response, first, last int64, retries int,
	notify func(error, int64, time.Duration)) io.ReadCloser {
	etag := resp.Header.Get("ETag")
	if etag == "" || last < first {
		return resp.Body
	}
	return &resumingBody{ctx: ctx, cl: cl, url: url, etag: etag, next: first, last: last, body: resp.Body,
		retries: retries, notify: notify}
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.next += int64(n)
		if n > 0 {
			r.failed = 0 // progress
		}
		switch {
		case err == nil:
			return n, nil
		case r.next > r.last:
			// Every wanted byte is here; whatever broke after them costs nothing.
			return n, io.EOF
		case errors.Is(err, io.EOF):
			// The server ended the body early without an error of the transport.
			err = fmt.Errorf("the body ended at byte %d of %d: %w", r.next, r.last+1, io.ErrUnexpectedEOF)
		}
		if n > 0 {
			// Hand over what arrived; the failure comes back on the next Read.
			return n, nil
		}
		if rerr := r.resume(err); rerr != nil {
			return 0, rerr
		}
	}
}

// resume replaces the broken body with one that starts at r.next, or returns the
// error to give up with.
func (r *resumingBody) resume(cause error) error {
	for {
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		if !retryable(cause) {
			return &brokenTransferError{at: r.next, failures: r.failed + 1, cause: cause}
		}
		r.failed++
		if r.failed > r.retries {
			return &brokenTransferError{at: r.next, failures: r.failed, cause: cause}
		}
		wait := retryWait(r.failed, cause)
		if r.notify != nil {
			r.notify(cause, r.next, wait)
		}
		if err := sleepContext(r.ctx, wait); err != nil {
			return err
		}
		_ = r.body.Close()
		r.body = io.NopCloser(strings.NewReader(""))
		want := fmt.Sprintf("bytes %d-%d/", r.next, r.last)
		resp, err := r.cl.get(r.ctx, r.url, http.Header{
			"Range":    {fmt.Sprintf("bytes=%d-%d", r.next, r.last)},
			"If-Match": {r.etag},
		}, http.StatusPartialContent)
		if err == nil && !strings.HasPrefix(resp.Header.Get("Content-Range"), want) {
			resp.Body.Close()
			return fmt.Errorf("resuming at byte %d, the server answered the range %q", r.next, resp.Header.Get("Content-Range"))
		}
		if err != nil {
			cause = err
			continue
		}
		r.body = resp.Body
		return nil
	}
}

func (r *resumingBody) Close() error { return r.body.Close() }

// brokenTransferError ends a transfer that could not be resumed. It does not unwrap
// to its cause on purpose: the cause is often io.ErrUnexpectedEOF, and a decryptor
// takes that for the end of the content, reporting a transfer that broke off as
// content that is cut short or damaged.
type brokenTransferError struct {
	at       int64 // the object's offset where it broke off
	failures int   // failed attempts in a row
	cause    error
}

func (e *brokenTransferError) Error() string {
	return fmt.Sprintf("the transfer broke off at byte %d; giving up after %d failed attempts in a row: %v", e.at, e.failures, e.cause)
}

// retryWait is the pause before the failures-th attempt in a row after err: growing
// from half a second to 15 s, or what the server's Retry-After asks for.
func retryWait(failures int, err error) time.Duration {
	var ae *apiError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return ae.RetryAfter
	}
	return min(time.Duration(1<<min(failures, 6))*250*time.Millisecond, 15*time.Second)
}

// sleepContext waits for d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
