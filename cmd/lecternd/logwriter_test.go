package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// slowWriter records every Write it gets and can be held, so that lines queue up.
type slowWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	hold   chan struct{} // when not nil, each Write waits until it is closed
}

func (s *slowWriter) Write(p []byte) (int, error) {
	if s.hold != nil {
		<-s.hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

// Every line arrives whole and in order, from many goroutines, and Close writes all
// that is queued; lines that queue while a write runs go out in fewer writes.
func TestLineWriterKeepsEveryLineInOrder(t *testing.T) {
	out := &slowWriter{hold: make(chan struct{})}
	w := newLineWriter(out)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "writer=%d line=%d %s\n", g, i, strings.Repeat("x", 100))
			}
		})
	}
	// The first write is held until every line is queued (the queue stays under
	// maxQueued), then the writer goes on.
	wg.Wait()
	close(out.hold)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.buf.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines written, want %d", len(got), writers*lines)
	}
	next := make([]int, writers)
	for _, l := range got {
		var g, i int
		if _, err := fmt.Sscanf(l, "writer=%d line=%d", &g, &i); err != nil || !strings.HasSuffix(l, strings.Repeat("x", 100)) {
			t.Fatalf("torn line %q", l)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after line %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if out.writes >= writers*lines {
		t.Fatalf("%d writes for %d lines: nothing was joined while a write was held", out.writes, writers*lines)
	}
	// After Close lines are written through.
	fmt.Fprintln(w, "after close")
	if !strings.HasSuffix(out.buf.String(), "after close\n") {
		t.Fatal("a line after Close was not written")
	}
}

// Close flushes a line written just before it, and a second Close is harmless.
func TestLineWriterCloseFlushes(t *testing.T) {
	var out bytes.Buffer
	w := newLineWriter(&out)
	io.WriteString(w, "last words\n")
	w.Close()
	w.Close()
	if out.String() != "last words\n" {
		t.Fatalf("got %q", out.String())
	}
}

// gatedWriter tells when a Write has started and holds it until gate is closed.
type gatedWriter struct {
	entered chan struct{}
	gate    chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

// A Write waiting for the backlog to drain when Close runs neither panics (it sent on
// the closed wake channel) nor loses its line: it is written after everything queued.
func TestLineWriterCloseWhileAWriteWaits(t *testing.T) {
	out := &gatedWriter{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	w := newLineWriter(out)
	events := make(chan string, 16)
	w.hook = func(e string) { events <- e }

	line := strings.Repeat("x", 1023) + "\n"
	io.WriteString(w, line)
	<-out.entered // the writer holds the first line, so the rest queue up
	queued := maxQueued/len(line) + 1
	for range queued {
		io.WriteString(w, line)
	}
	result := make(chan any, 1)
	go func() {
		defer func() { result <- recover() }()
		io.WriteString(w, "the waiting line\n")
	}()
	if e := <-events; e != "wait" {
		t.Fatalf("event %q, want the Write to wait for the backlog", e)
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	if e := <-events; e != "closed" {
		t.Fatalf("event %q, want Close", e)
	}
	close(out.gate)
	if r := <-result; r != nil {
		t.Fatalf("the waiting Write panicked when the writer was closed: %v", r)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	got := out.buf.String()
	want := strings.Repeat(line, 1+queued) + "the waiting line\n"
	if got != want {
		t.Fatalf("wrote %d bytes ending %q, want %d bytes ending with the waiting line", len(got), got[max(0, len(got)-40):], len(want))
	}
}
