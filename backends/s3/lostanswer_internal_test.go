package s3

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/core/storage"
)

// losesOneAnswer passes requests on to the server, and loses the answer of the first
// one that lose matches, after the server has acted on it: the connection reset after
// a put was stored, which the SDK's retryer then retries. It wraps each of the
// driver's HTTP clients (wrap).
type losesOneAnswer struct {
	lose func(*http.Request) bool
	lost atomic.Bool
}

func (l *losesOneAnswer) wrap(c aws.HTTPClient) aws.HTTPClient { return &answerLoser{l: l, wrapped: c} }

type answerLoser struct {
	l       *losesOneAnswer
	wrapped aws.HTTPClient
}

func (c *answerLoser) Do(req *http.Request) (*http.Response, error) {
	l := c.l
	resp, err := c.wrapped.Do(req)
	if err == nil && l.lose(req) && !l.lost.Swap(true) {
		resp.Body.Close()
		return nil, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	}
	return resp, err
}

// TestPutWhoseAnswerWasLost: a put stored by the server, whose answer is lost, is
// retried by the SDK; the retry meets the put's own object (412 for a conditional
// put, NoSuchUpload for the completion of a multipart upload). The put won and must
// say so with the stored object's attributes, not report a lost race: a create-only
// put reported lost leaves a conference half-created or a lease waiting on itself.
// A put that really lost still reports it.
func TestPutWhoseAnswerWasLost(t *testing.T) {
	srv := minio.Start(t)
	isPut := func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "" }
	isCompletion := func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Query().Has("uploadId") }
	small, large := bytes.Repeat([]byte("s"), 1000), bytes.Repeat([]byte("m"), 2*minPartSize+1)
	tests := []struct {
		name     string
		lose     func(*http.Request) bool
		existing []byte // stored under the key first, by another put, when not nil
		data     []byte
		cond     func(existing storage.Attributes) storage.Condition
		wantErr  error // nil: the put won
	}{
		{"create-only", isPut, nil, small,
			func(storage.Attributes) storage.Condition { return storage.Condition{IfNotExists: true} }, nil},
		{"if-version", isPut, []byte("before"), small,
			func(a storage.Attributes) storage.Condition { return storage.Condition{IfVersion: a.Version} }, nil},
		{"create-only multipart", isCompletion, nil, large,
			func(storage.Attributes) storage.Condition { return storage.Condition{IfNotExists: true} }, nil},
		{"unconditional multipart", isCompletion, nil, large,
			func(storage.Attributes) storage.Condition { return storage.Condition{} }, nil},
		{"create-only that lost", isPut, []byte("another put's"), small,
			func(storage.Attributes) storage.Condition { return storage.Condition{IfNotExists: true} }, storage.ErrPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &losesOneAnswer{lose: tt.lose}
			d, err := New(context.Background(), Config{
				Bucket: srv.NewBucket(t), Endpoint: srv.Endpoint, Region: srv.Region, UsePathStyle: true,
				AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PartSize: minPartSize,
				wrapHTTPClient: l.wrap,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			b := storage.NewBucket(d)
			ctx := context.Background()
			var existing storage.Attributes
			if tt.existing != nil {
				l.lost.Store(true) // not this one
				if existing, err = b.PutBytes(ctx, "k", tt.existing, storage.Condition{}); err != nil {
					t.Fatal(err)
				}
				l.lost.Store(false)
			}
			attrs, err := b.Put(ctx, "k", bytes.NewReader(tt.data), storage.PutOptions{Size: int64(len(tt.data)), Condition: tt.cond(existing)})
			if !l.lost.Load() {
				t.Fatal("no answer was lost: the test did not test anything")
			}
			want := tt.data
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Put = %v, want %v", err, tt.wantErr)
				}
				want = tt.existing
			} else if err != nil {
				t.Fatalf("Put of an object the server stored: %v", err)
			}
			got, stored, err := b.ReadAll(ctx, "k")
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("stored: %d bytes, %v; want %d bytes", len(got), err, len(want))
			}
			if tt.wantErr == nil && (attrs.Version != stored.Version || attrs.Size != int64(len(tt.data))) {
				t.Fatalf("Put answered version %q size %d; stored: version %q size %d", attrs.Version, attrs.Size, stored.Version, stored.Size)
			}
		})
	}
}
