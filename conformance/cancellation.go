package conformance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

func cancellationChecks() []check {
	return []check{
		{"put_cancelled_midway_keeps_old", func(t *testing.T, e *env) { putCancelMidway(t, e, true) }},
		{"put_cancelled_midway_creates_nothing", func(t *testing.T, e *env) { putCancelMidway(t, e, false) }},
		{"put_cancelled_before_start", putCancelledBefore},
		{"get_cancelled_before_start", getCancelledBefore},
		{"get_body_stops_after_cancel", getBodyCancel},
		{"stat_cancelled", statCancelled},
		{"delete_cancelled_keeps_object", deleteCancelled},
		{"list_cancelled_before_start", listCancelledBefore},
		{"list_cancelled_midway_stops", listCancelMidway},
		{"deadline_exceeded", deadlineExceeded},
	}
}

func wantCanceled(t testing.TB, err error, what string) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: got %v, want an error matching context.Canceled", what, err)
	}
}

func cancelled(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	cancel()
	return ctx
}

// putCancelMidway cancels a put while its reader is blocked halfway (announced by the
// reader itself, so no sleep decides the timing). The reader then goes on to its end
// without a word of the cancellation: the driver must notice it by itself, fail with
// the context's error and leave the old object, or nothing.
func putCancelMidway(t *testing.T, e *env, withOld bool) {
	old := payload(30_000, "old")
	if withOld {
		e.put("c", old)
	}
	data := payload(300_000, "new")
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	r := newBlockingReader(ctx, data, 150_000)
	done := make(chan error, 1)
	go func() {
		_, err := e.b.Put(ctx, "c", r, storage.PutOptions{Size: int64(len(data))})
		done <- err
	}()
	select {
	case <-r.reached:
	case err := <-done:
		t.Fatalf("Put returned %v before reading half of its reader", err)
	}
	cancel()
	err := <-done
	if err == nil {
		t.Fatal("Put cancelled midway succeeded: the driver did not watch its context while reading")
	}
	wantCanceled(t, err, "Put cancelled midway")
	if withOld {
		e.wantContent(e.b, "c", old)
		e.wantKeys(e.b, "", "c")
	} else {
		e.wantMissing(e.b, "c")
		e.wantKeys(e.b, "")
	}
}

// The checks of a call made with a context that has already ended call the driver
// too, not only the Bucket: the Bucket answers such a call itself, and a driver deaf
// to its context would pass through it unseen.

func putCancelledBefore(t *testing.T, e *env) {
	_, err := e.b.PutBytes(cancelled(e.ctx), "c", []byte("x"), storage.Condition{})
	wantCanceled(t, err, "Put with a cancelled context")
	_, err = e.b.Driver().Put(cancelled(e.ctx), "c", bytes.NewReader([]byte("x")), storage.PutOptions{Size: 1})
	wantCanceled(t, err, "the driver's Put with a cancelled context")
	e.wantKeys(e.b, "")
}

func getCancelledBefore(t *testing.T, e *env) {
	e.put("g", []byte("x"))
	_, _, err := readRange(cancelled(e.ctx), e.b, "g", 0, -1)
	wantCanceled(t, err, "Get with a cancelled context")
	rc, _, err := e.b.Driver().Get(cancelled(e.ctx), "g", 0, -1)
	if err == nil {
		// A driver may open the body first; reading it must then fail.
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	wantCanceled(t, err, "the driver's Get with a cancelled context")
}

// getBodyCancel cancels the context of an open body: reading on must fail promptly
// with the cancellation, not deliver the rest of the object.
func getBodyCancel(t *testing.T, e *env) {
	data := payload(8<<20, "body")
	e.put("g", data)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	rc, _, err := e.b.Get(ctx, "g", 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	head := make([]byte, 1024)
	if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, data[:1024]) {
		t.Fatalf("reading the first KiB: %v", err)
	}
	cancel()
	n, err := io.Copy(io.Discard, rc)
	if err == nil {
		t.Fatalf("the body delivered the remaining %d bytes after its context was cancelled", n)
	}
	wantCanceled(t, err, "reading a body after cancellation")
}

func statCancelled(t *testing.T, e *env) {
	e.put("s", []byte("x"))
	_, err := e.b.Stat(cancelled(e.ctx), "s")
	wantCanceled(t, err, "Stat with a cancelled context")
	_, err = e.b.Driver().Stat(cancelled(e.ctx), "s")
	wantCanceled(t, err, "the driver's Stat with a cancelled context")
}

func deleteCancelled(t *testing.T, e *env) {
	e.put("d", []byte("x"))
	wantCanceled(t, e.b.Delete(cancelled(e.ctx), "d"), "Delete with a cancelled context")
	wantCanceled(t, e.b.Driver().Delete(cancelled(e.ctx), "d"), "the driver's Delete with a cancelled context")
	e.wantContent(e.b, "d", []byte("x"))
}

func listCancelledBefore(t *testing.T, e *env) {
	e.put("l/a", []byte("x"))
	_, err := listAll(cancelled(e.ctx), e.b, "l/")
	wantCanceled(t, err, "List with a cancelled context")
}

// listCancelMidway cancels a listing after a few entries: it must end with the
// cancellation instead of running to its end.
func listCancelMidway(t *testing.T, e *env) {
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = "lc/" + string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	if err := putAll(e.ctx, e.b, keys, 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	n := 0
	var last error
	for _, err := range e.b.List(ctx, "lc/") {
		if err != nil {
			last = err
			break
		}
		if n++; n == 5 {
			cancel()
		}
	}
	if last == nil {
		t.Fatalf("a listing cancelled after 5 entries ran to its end (%d entries) without an error", n)
	}
	wantCanceled(t, last, "List cancelled midway")
}

func deadlineExceeded(t *testing.T, e *env) {
	e.put("d", []byte("x"))
	ctx, cancel := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
	defer cancel()
	_, err := e.b.Stat(ctx, "d")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat past its deadline = %v, want an error matching context.DeadlineExceeded", err)
	}
	_, err = e.b.PutBytes(ctx, "d", []byte("y"), storage.Condition{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put past its deadline = %v, want an error matching context.DeadlineExceeded", err)
	}
	if _, err = e.b.Driver().Stat(ctx, "d"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the driver's Stat past its deadline = %v, want an error matching context.DeadlineExceeded", err)
	}
	_, err = e.b.Driver().Put(ctx, "d", bytes.NewReader([]byte("y")), storage.PutOptions{Size: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the driver's Put past its deadline = %v, want an error matching context.DeadlineExceeded", err)
	}
	e.wantContent(e.b, "d", []byte("x"))
}
