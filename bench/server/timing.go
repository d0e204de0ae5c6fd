package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// timingDriver wraps the disk driver of the in-process server and adds up, per kind
// of object and operation, how long the backend itself took. A Put's time excludes
// the time spent waiting for its source (the encrypting pipe or the request body),
// and a Get's time includes the reads of its body, so the table says how much of an
// upload is storage work (writes, fsyncs, renames, re-reads) and how much is not.
type timingDriver struct {
	storage.Driver
	mu    sync.Mutex
	stats map[string]*opStat
}

type opStat struct {
	n     int
	bytes int64
	d     time.Duration
}

func newTimingDriver(d storage.Driver) *timingDriver {
	return &timingDriver{Driver: d, stats: map[string]*opStat{}}
}

// class names an object by its role in an upload (uploads/<conf>/<id>/part-… → part).
func class(key string) string {
	root, rest, _ := strings.Cut(key, "/")
	if root != "uploads" {
		return root
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	if strings.HasPrefix(name, "part-") {
		return "uploads:part"
	}
	return "uploads:" + name
}

func (t *timingDriver) add(op, key string, n int64, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := op + " " + class(key)
	s := t.stats[k]
	if s == nil {
		s = &opStat{}
		t.stats[k] = s
	}
	s.n++
	s.bytes += n
	s.d += d
}

func (t *timingDriver) reset() {
	t.mu.Lock()
	t.stats = map[string]*opStat{}
	t.mu.Unlock()
}

// report lists the entries by time spent, largest first.
func (t *timingDriver) report() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.stats))
	for k := range t.stats {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return t.stats[keys[i]].d > t.stats[keys[j]].d })
	var b strings.Builder
	fmt.Fprintf(&b, "| storage op (object) | calls | MiB | time in backend |\n|---|---|---|---|\n")
	for _, k := range keys {
		s := t.stats[k]
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.3f s |\n", k, s.n, float64(s.bytes)/(1<<20), s.d.Seconds())
	}
	return b.String()
}

// waitReader measures how long a Put waits for its source.
type waitReader struct {
	r    io.Reader
	wait time.Duration
}

func (w *waitReader) Read(p []byte) (int, error) {
	t0 := time.Now()
	n, err := w.r.Read(p)
	w.wait += time.Since(t0)
	return n, err
}

func (t *timingDriver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	wr := &waitReader{r: r}
	t0 := time.Now()
	a, err := t.Driver.Put(ctx, key, wr, opts)
	t.add("put", key, a.Size, time.Since(t0)-wr.wait)
	return a, err
}

// Move forwards storage.Mover, as lecternd's disk backend has it: without it the
// engine would copy a finished upload instead of renaming it.
func (t *timingDriver) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	m, ok := t.Driver.(storage.Mover)
	if !ok {
		return storage.Attributes{}, storage.NewError(storage.ErrUnsupported, "move", src, nil)
	}
	t0 := time.Now()
	a, err := m.Move(ctx, src, dst)
	t.add("move", src, 0, time.Since(t0))
	return a, err
}

// Append forwards storage.Appender, as lecternd's disk backend has it: without it a
// multi-PATCH upload would be kept in one part per PATCH and joined at the end.
func (t *timingDriver) Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (storage.Attributes, error) {
	a, ok := t.Driver.(storage.Appender)
	if !ok {
		return storage.Attributes{}, storage.NewError(storage.ErrUnsupported, "append", key, nil)
	}
	wr := &waitReader{r: r}
	t0 := time.Now()
	attrs, err := a.Append(ctx, key, offset, wr, ifVersion)
	t.add("append", key, attrs.Size-offset, time.Since(t0)-wr.wait)
	return attrs, err
}

type timedBody struct {
	io.ReadCloser
	t   *timingDriver
	key string
	n   int64
	d   time.Duration
}

func (b *timedBody) Read(p []byte) (int, error) {
	t0 := time.Now()
	n, err := b.ReadCloser.Read(p)
	b.d += time.Since(t0)
	b.n += int64(n)
	return n, err
}

func (b *timedBody) Close() error {
	b.t.add("get", b.key, b.n, b.d)
	return b.ReadCloser.Close()
}

func (t *timingDriver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	t0 := time.Now()
	rc, a, err := t.Driver.Get(ctx, key, offset, length)
	if err != nil {
		t.add("get", key, 0, time.Since(t0))
		return rc, a, err
	}
	return &timedBody{ReadCloser: rc, t: t, key: key, d: time.Since(t0)}, a, nil
}

func (t *timingDriver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	t0 := time.Now()
	a, err := t.Driver.Stat(ctx, key)
	t.add("stat", key, 0, time.Since(t0))
	return a, err
}

func (t *timingDriver) Delete(ctx context.Context, key string) error {
	t0 := time.Now()
	err := t.Driver.Delete(ctx, key)
	t.add("delete", key, 0, time.Since(t0))
	return err
}

func (t *timingDriver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		t0 := time.Now()
		defer func() { t.add("list", prefix, 0, time.Since(t0)) }()
		for a, err := range t.Driver.List(ctx, prefix) {
			if !yield(a, err) {
				return
			}
		}
	}
}
