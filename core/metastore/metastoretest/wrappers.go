package metastoretest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// Driver wrappers that make the harness's real backend misbehave in one controlled
// way (they wrap it, never replace it), and a log recorder.

// jitter delays puts a little, so that racing allocators overlap even on a backend
// as fast as memory: a lost update would then show as a duplicate id.
type jitter struct{ storage.Driver }

func (j jitter) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	return j.Driver.Put(ctx, key, r, opts)
}

// createOnly hides conditional replace.
type createOnly struct{ storage.Driver }

func (c createOnly) Capabilities() storage.Capabilities {
	caps := c.Driver.Capabilities()
	caps.ConditionalReplace = false
	return caps
}

type noConditions struct{ storage.Driver }

func (c noConditions) Capabilities() storage.Capabilities { return storage.Capabilities{} }

// LogRecorder is a slog.Handler that keeps the records, so that tests can check what
// was logged.
type LogRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *LogRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *LogRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *LogRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *LogRecorder) WithGroup(string) slog.Handler      { return l }

// Reset forgets the records so far.
func (l *LogRecorder) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = nil
}

// Has reports whether a record at level or above has an attribute whose value
// contains s.
func (l *LogRecorder) Has(level slog.Level, s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		found := false
		r.Attrs(func(a slog.Attr) bool {
			found = strings.Contains(a.Value.String(), s)
			return !found
		})
		if r.Level >= level && found {
			return true
		}
	}
	return false
}

// Messages returns the recorded messages, for failure output.
func (l *LogRecorder) Messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		out = append(out, r.Level.String()+" "+r.Message)
	}
	return out
}

// failDelete fails deletes of one key, as a backend that is briefly unavailable.
type failDelete struct {
	storage.Driver
	key string
}

func (f failDelete) Delete(ctx context.Context, key string) error {
	if key == f.key {
		return storage.NewError(storage.ErrUnavailable, "delete", key, errors.New("injected"))
	}
	return f.Driver.Delete(ctx, key)
}

// mangle stores a damaged copy of whatever is put under one key: a backend that
// acknowledges a write it did not keep.
type mangle struct {
	storage.Driver
	key string
}

func (m mangle) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if key != m.key {
		return m.Driver.Put(ctx, key, r, opts)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return storage.Attributes{}, err
	}
	if len(b) > 0 {
		b[len(b)-1] ^= 1
	}
	return m.Driver.Put(ctx, key, bytes.NewReader(b), opts)
}

// lostReply stores journal records but reports the put as failed, as when a
// connection drops after the server wrote the object.
type lostReply struct {
	storage.Driver
	prefix string
}

func (l lostReply) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	a, err := l.Driver.Put(ctx, key, r, opts)
	if err == nil && strings.HasPrefix(key, l.prefix) {
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, errors.New("injected: reply lost"))
	}
	return a, err
}
