package stream

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/lectern/lectern/httpapi"
)

// TestStorageNeverGetsTusdContext drives every kind of request that writes (create
// with upload, plain and checksummed PATCHes, completion, termination) and checks
// that no storage write was given a context that leads back to the HTTP request:
// tusd's request context must not be looked up from storage goroutines (see
// ownContext), so the store's work runs in a context of its own.
func TestStorageNeverGetsTusdContext(t *testing.T) {
	forEachMode(t, func(t *testing.T, newBackend func(testing.TB) *backend) {
		be := newBackend(t)
		in := be.start(t)
		conf := in.conference("conf-a")
		tok := in.token(httpapi.RolePresenter, conf, "alice")
		data := textData(3<<20 + 17)
		loc := in.create(conf, tok, int64(len(data)), meta("filename", "deck.pdf"))
		in.sendAll(loc, tok, data[:1<<20], 0, 1<<19)
		chunk := data[1<<20 : 2<<20]
		if r := in.patch(loc, tok, 1<<20, chunk, "Upload-Checksum", "sha1 "+sha1B64(chunk)); r.status != http.StatusNoContent {
			t.Fatalf("checksummed PATCH: %v", r)
		}
		last := in.sendAll(loc, tok, data, 2<<20, len(data))
		in.checkContent(conf, resultFromHeaders(t, last), data)

		other := in.create(conf, tok, 100, meta("filename", "gone.pdf"))
		in.patch(other, tok, 0, data[:10])
		if r := in.do("DELETE", other, tok, map[string]string{"Tus-Resumable": "1.0.0"}, nil); r.status != http.StatusNoContent {
			t.Fatalf("DELETE: %v", r)
		}

		if be.rec.checked.Load() == 0 {
			t.Fatal("no storage write was checked")
		}
		if n := be.rec.requestContexts.Load(); n != 0 {
			t.Fatalf("%d of %d storage writes got a context that leads back to the HTTP request", n, be.rec.checked.Load())
		}
	})
}

type otherKey struct{}

func TestOwnContext(t *testing.T) {
	rs := &reqState{conf: "conf-a"}
	parent, cancelParent := context.WithCancel(contextWith(context.WithValue(context.Background(), otherKey{}, 1), rs))
	defer cancelParent()

	ctx, release := ownContext(parent)
	defer release()
	if stateOf(ctx) != rs {
		t.Error("the request state is not carried over")
	}
	if ctx.Value(otherKey{}) != nil {
		t.Error("another value of the parent is reachable")
	}
	if ctx.Err() != nil {
		t.Fatalf("done before its parent: %v", ctx.Err())
	}
	cancelParent()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", ctx.Err())
	}

	// Released before the parent ends: done at once, and the parent is not.
	p2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ctx2, release2 := ownContext(p2)
	release2()
	<-ctx2.Done()
	if p2.Err() != nil {
		t.Fatal("releasing the own context ended the parent")
	}
}
