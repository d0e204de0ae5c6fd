package s3_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/core/storage"
)

// TestErrorsFromServer provokes each error category on a real server and checks the
// category the driver reports.
func TestErrorsFromServer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := storage.NewBucket(f.driver(t))
	if _, err := good.PutBytes(ctx, "present", []byte("here"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	version := func() string {
		a, err := good.Stat(ctx, "present")
		if err != nil {
			t.Fatal(err)
		}
		return a.Version
	}()

	// An address nothing listens on: a port that was free a moment ago.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := "http://" + l.Addr().String()
	l.Close()

	wrongSecret := storage.NewBucket(f.driver(t, func(c *s3.Config) { c.SecretAccessKey = "not-the-secret" }))
	unknownKey := storage.NewBucket(f.driver(t, func(c *s3.Config) { c.AccessKeyID = "nobody" }))
	noBucket := storage.NewBucket(f.driver(t, func(c *s3.Config) { c.Bucket = "lectern-no-such-bucket" }))
	noServer := storage.NewBucket(f.driver(t, func(c *s3.Config) { c.Endpoint = deadAddr }))
	closedDriver := f.driver(t)
	closedDriver.Close()
	closed := storage.NewBucket(closedDriver)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()

	get := func(b *storage.Bucket, ctx context.Context, key string) error {
		rc, _, err := b.Get(ctx, key, 0, -1)
		if err == nil {
			rc.Close()
		}
		return err
	}
	list := func(b *storage.Bucket, ctx context.Context) error {
		for _, err := range b.List(ctx, "") {
			if err != nil {
				return err
			}
		}
		return nil
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"get_missing_key", get(good, ctx, "absent"), storage.ErrNotFound},
		{"stat_missing_key", func() error { _, err := good.Stat(ctx, "absent"); return err }(), storage.ErrNotFound},
		{"create_existing_key", func() error {
			_, err := good.PutBytes(ctx, "present", []byte("x"), storage.Condition{IfNotExists: true})
			return err
		}(), storage.ErrPrecondition},
		{"replace_stale_version", func() error {
			_, err := good.PutBytes(ctx, "present", []byte("x"), storage.Condition{IfVersion: `"0123456789abcdef0123456789abcdef"`})
			return err
		}(), storage.ErrPrecondition},
		{"replace_missing_key", func() error {
			_, err := good.PutBytes(ctx, "absent", []byte("x"), storage.Condition{IfVersion: version})
			return err
		}(), storage.ErrPrecondition},
		{"range_past_end", func() error { _, _, err := good.Get(ctx, "present", 5, -1); return err }(), storage.ErrInvalidRange},
		{"wrong_secret_get", get(wrongSecret, ctx, "present"), storage.ErrPermission},
		{"wrong_secret_put", func() error {
			_, err := wrongSecret.PutBytes(ctx, "k", []byte("x"), storage.Condition{})
			return err
		}(), storage.ErrPermission},
		{"unknown_access_key_list", list(unknownKey, ctx), storage.ErrPermission},
		{"missing_bucket_put", func() error {
			_, err := noBucket.PutBytes(ctx, "k", []byte("x"), storage.Condition{})
			return err
		}(), storage.ErrUnavailable},
		{"no_server_get", get(noServer, ctx, "present"), storage.ErrUnavailable},
		{"no_server_list", list(noServer, ctx), storage.ErrUnavailable},
		{"closed_driver_get", get(closed, ctx, "present"), storage.ErrClosed},
		{"closed_driver_list", list(closed, ctx), storage.ErrClosed},
		// The driver itself, not the Bucket (which checks the context before any I/O).
		{"cancelled_get", func() error { _, _, err := f.driver(t).Get(cancelled, "present", 0, -1); return err }(), context.Canceled},
		{"cancelled_put", func() error {
			_, err := f.driver(t).Put(cancelled, "present", bytes.NewReader([]byte("x")), storage.PutOptions{Size: 1})
			return err
		}(), context.Canceled},
		{"cancelled_list", list(good, cancelled), context.Canceled},
		{"deadline_stat", func() error { _, err := f.driver(t).Stat(expired, "present"); return err }(), context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("got %v (category %v), want an error matching %v", tt.err, storage.KindOf(tt.err), tt.want)
			}
			if errors.Is(tt.want, context.Canceled) || errors.Is(tt.want, context.DeadlineExceeded) {
				return
			}
			if kind := storage.KindOf(tt.err); kind != tt.want {
				t.Fatalf("category %v, want exactly %v", kind, tt.want)
			}
		})
	}
}
