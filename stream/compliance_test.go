package stream

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// killedAfter wraps the recorder: once kill says a write put content into place,
// the "process" is dead and every later write fails before it reaches storage, as
// if lecternd had been SIGKILLed right after it.
type killedAfter struct {
	*recorder
	kill func(op, key string) bool
	dead *atomic.Bool
}

var errKilled = storage.NewError(storage.ErrUnavailable, "op", "", errors.New("the process was killed"))

func (d killedAfter) after(op, key string, err error) {
	if err == nil && d.kill(op, key) {
		d.dead.Store(true)
	}
}

func (d killedAfter) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if d.dead.Load() {
		return storage.Attributes{}, errKilled
	}
	a, err := d.recorder.Put(ctx, key, r, o)
	d.after("put", key, err)
	return a, err
}

func (d killedAfter) Delete(ctx context.Context, key string) error {
	if d.dead.Load() {
		return errKilled
	}
	return d.recorder.Delete(ctx, key)
}

func (d killedAfter) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	if d.dead.Load() {
		return storage.Attributes{}, errKilled
	}
	a, err := d.recorder.Move(ctx, src, dst)
	d.after("move", dst, err)
	return a, err
}

func (d killedAfter) Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (storage.Attributes, error) {
	if d.dead.Load() {
		return storage.Attributes{}, errKilled
	}
	return d.recorder.Append(ctx, key, offset, r, ifVersion)
}

// TestComplianceCopyAfterACrash: with compliance copies required, an upload whose
// content file was put in place just before a crash, and that a retry after the
// restart recognises as stored, still gets the compliance copy of its content:
// nothing is acknowledged that compliance did not see. On the parts path (the part
// renamed into the content file) and on the direct path (the body put as the
// content file).
func TestComplianceCopyAfterACrash(t *testing.T) {
	tests := []struct {
		name      string
		directMax int64
		kill      func(op, key string) bool
	}{
		{"parts, killed after the rename", -1, func(op, key string) bool { return op == "move" && strings.HasPrefix(key, "content/") }},
		{"direct, killed after the content put", DefaultDirectMax, func(op, key string) bool { return op == "put" && strings.HasPrefix(key, "content/") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			var dead atomic.Bool
			be.bucket = storage.NewBucket(killedAfter{recorder: be.rec, kill: tc.kill, dead: &dead})
			options := []instOption{
				func(_ *Config, e *conference.Config) {
					e.Compliance = conference.Compliance{Enabled: true, Required: true}
				},
				withStream(func(c *Config) { c.DirectMax = tc.directMax }),
			}
			in := be.start(t, options...)
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(700_000)
			loc := in.create(conf, tok, int64(len(data)), meta("filename", "talk.pdf", "purpose", "handout"))
			if r := in.patch(loc, tok, 0, data); !dead.Load() {
				t.Fatalf("the content was never put in place: %v", r)
			}

			in.stop()
			dead.Store(false)
			be.clock.Advance(DefaultLockTTL + time.Second) // the dead process's lease expires
			in = be.start(t, options...)
			// The client's retry: the offset the server reports, and the rest from there.
			if r := in.patch(loc, tok, in.offset(loc, tok), data[in.offset(loc, tok):]); r.status != 204 {
				t.Fatalf("PATCH after the restart: %v", r)
			}
			hs, err := in.engine.ListHandouts(t.Context(), conf)
			if err != nil || len(hs) != 1 {
				t.Fatalf("handouts after the restart: %v, %v", hs, err)
			}
			var copies []string
			for a, err := range be.bucket.List(t.Context(), "compliance/") {
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(a.Key, "/content/") {
					copies = append(copies, a.Key)
				}
			}
			if len(copies) != 1 {
				t.Fatalf("the handout's content (%s) is served, but compliance holds %d copies of content: %q", hs[0].Blob.Name, len(copies), copies)
			}
		})
	}
}
