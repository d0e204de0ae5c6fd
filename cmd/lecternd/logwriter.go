package main

import (
	"io"
	"sync"
)

// lineWriter is lecternd's log output: slog handlers hand it one complete line per
// Write, and one goroutine writes them out, joining the lines that arrived while the
// previous write ran into one. An idle server writes each line at once; a busy one
// (a request log line per small GET) makes one write system call for many lines
// instead of one each, which was about a twelfth of the system calls of a small GET
// (docs/benchmarks-server.md). No timer is involved, so nothing waits for a flush.
//
// What is lost on a crash is what was queued and not yet written: the lines of the
// last moments, as with any buffered log. Close writes everything queued. A writer
// that falls more than maxQueued bytes behind makes the handlers wait (the request
// log must not grow memory without bound when the disk is slow).
type lineWriter struct {
	out io.Writer

	mu      sync.Mutex
	queued  []byte
	spare   []byte
	closed  bool
	drained *sync.Cond // signalled after every write
	wake    chan struct{}
	done    chan struct{}
	flushed chan struct{} // closed when Close has written everything queued

	// hook, when not nil, is called under mu at the points a test needs to order
	// (event "wait": a Write is about to wait for the backlog; "closed": Close has
	// marked the writer closed).
	hook func(event string)
}

const maxQueued = 1 << 20

func newLineWriter(out io.Writer) *lineWriter {
	w := &lineWriter{out: out, wake: make(chan struct{}, 1), done: make(chan struct{}), flushed: make(chan struct{})}
	w.drained = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Write queues p (a whole log line). It never returns an error: the handlers could
// not do anything with one, and a failing log must not fail requests.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.queued) > maxQueued && !w.closed {
		if w.hook != nil {
			w.hook("wait")
		}
		w.drained.Wait()
	}
	if w.closed {
		// After Close (a last line at exit), or Close ran while this Write waited for
		// the backlog: wake is closed, so write through, after what Close flushes.
		w.mu.Unlock()
		<-w.flushed
		_, _ = w.out.Write(p)
		return len(p), nil
	}
	w.queued = append(w.queued, p...)
	select { // under the lock, so that Close cannot close wake in between
	case w.wake <- struct{}{}:
	default: // the writer is already awake and will see this line
	}
	w.mu.Unlock()
	return len(p), nil
}

func (w *lineWriter) run() {
	defer close(w.done)
	for {
		_, open := <-w.wake
		w.mu.Lock()
		batch := w.queued
		w.queued, w.spare = w.spare[:0], nil
		w.mu.Unlock()
		if len(batch) > 0 {
			_, _ = w.out.Write(batch)
		}
		w.mu.Lock()
		w.spare = batch[:0]
		if cap(w.spare) > 4*maxQueued {
			w.spare = nil // do not keep a buffer a burst made huge
		}
		w.drained.Broadcast()
		w.mu.Unlock()
		if !open {
			return
		}
	}
}

// Close writes what is queued and stops the writer; later lines, and those of Writes
// waiting for the backlog when it ran, are written through after it.
func (w *lineWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.flushed
		return nil
	}
	w.closed = true
	if w.hook != nil {
		w.hook("closed")
	}
	w.drained.Broadcast()
	close(w.wake)
	w.mu.Unlock()
	<-w.done
	// Lines queued between the last batch and closing the channel.
	w.mu.Lock()
	rest := w.queued
	w.queued = nil
	w.mu.Unlock()
	if len(rest) > 0 {
		_, _ = w.out.Write(rest)
	}
	close(w.flushed)
	return nil
}
