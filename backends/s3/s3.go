// Package s3 is Lectern's storage backend on Amazon S3 and S3-compatible servers
// (MinIO, Ceph RGW, …), built on github.com/aws/aws-sdk-go-v2.
//
// It maps the storage contract onto S3: a put is a single PutObject for objects
// smaller than one part, and otherwise a multipart upload streamed in bounded memory
// by the SDK's transfer manager (an upload that fails or is cancelled is aborted, so
// no parts are left behind, and RemoveLeftovers aborts those a dead process left);
// conditional puts use If-None-Match: * (create-only) and
// If-Match: <ETag> (replace), which S3 evaluates atomically on PutObject and on
// CompleteMultipartUpload, so the version token is the ETag. Errors are classified by
// the API error code or the HTTP status, never by message text.
//
// # Object format
//
// Two adjustments make S3 keep the contract, and both are invisible to callers:
//
//   - Every object name ends in '!' (key "a/b" is stored as "a/b!"). MinIO keeps
//     objects as folders on disk, so it cannot hold both "a" and "a/b": the second
//     put succeeds but one of the two disappears from listings. With the terminator
//     no object name is the folder of another. '!' sorts before every character a key
//     may contain, so listings keep the keys' byte order, and a plain prefix still
//     selects the same keys.
//   - Every object starts with a 16-byte header of random bits, followed by the
//     caller's bytes unchanged. S3 derives the ETag from the content (an MD5), so two
//     puts of the same bytes would get the same version, and a conditional replace
//     could succeed against a version that was overwritten and then written back (the
//     ABA problem); the header makes every put's ETag unique. The driver hides it on
//     get, stat and list (ranges are shifted by 16 bytes). It also tells a put its
//     own object: when the SDK retries a put whose answer was lost after the object
//     was stored, the retry is refused (412, or NoSuchUpload for a multipart upload),
//     and the header read back shows that the put had won.
//
// An object under the driver's prefix without the terminator or shorter than the
// header was not written by this driver; operations that meet one report
// ErrInvalidArgument rather than misread it.
//
// It must not know the engine, HTTP tier, encryption or any other backend; it knows
// the storage contract and the S3 API only.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/lectern/lectern/core/storage"
)

// Driver is a storage.Driver over one bucket (and optional prefix). It is safe for
// concurrent use.
type Driver struct {
	client   *s3api.Client
	slowOp   func(*s3api.Options) // for the requests slowTimeout covers
	uploader *transfermanager.Client
	idle     []idleCloser // the HTTP clients that can release their connections
	bucket   string
	prefix   string
	partSize int64
	closed   atomic.Bool
}

var _ storage.Driver = (*Driver)(nil)

// Client returns the SDK client, for tests and diagnostics.
func (d *Driver) Client() *s3api.Client { return d.client }

// ObjectKey returns the S3 object name under which key is stored.
func (d *Driver) ObjectKey(key string) string { return d.prefix + key + terminator }

func (d *Driver) check(op, key string) error {
	if d.closed.Load() {
		return storage.NewError(storage.ErrClosed, op, key, nil)
	}
	return nil
}

// Put implements storage.Driver.
func (d *Driver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if err := d.check("put", key); err != nil {
		return storage.Attributes{}, err
	}
	src := &sourceReader{ctx: ctx, r: r}
	header := newHeader()
	in := &transfermanager.UploadObjectInput{
		Bucket: aws.String(d.bucket),
		Key:    aws.String(d.ObjectKey(key)),
		// The body has no Seek or Len, so that the transfer manager never trusts a
		// declared length: it reads at most one part ahead, whatever r is.
		Body: io.MultiReader(bytes.NewReader(header), src),
	}
	if opts.IfNotExists {
		in.IfNoneMatch = aws.String("*")
	}
	if opts.IfVersion != "" {
		in.IfMatch = aws.String(opts.IfVersion)
	}
	partSize := d.partSize
	if stored := opts.Size + headerSize; opts.Size > 0 && stored/partSize >= maxParts {
		// A hint that the object needs more than S3's 10,000 parts at the usual size.
		partSize = stored/(maxParts-1) + 1
	}
	out, err := d.uploader.UploadObject(ctx, in, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.MultipartUploadThreshold = partSize
	})
	if err != nil {
		if src.n+headerSize > partSize*maxParts {
			// The transfer manager gave up at S3's part limit (its error has no type
			// to test for, but the count says it all).
			return storage.Attributes{}, storage.NewError(storage.ErrInvalidArgument, "put", key,
				fmt.Errorf("the data outgrew %d parts of %d bytes; give its size in PutOptions.Size: %w", maxParts, partSize, err))
		}
		err = d.putError(ctx, key, src, err, opts.Condition)
		if mayHaveStored(err) {
			if attrs, ok := d.storedByThisPut(ctx, key, header); ok {
				return attrs, nil
			}
		}
		return storage.Attributes{}, err
	}
	return storage.Attributes{
		Key:     key,
		Size:    src.n,
		Version: aws.ToString(out.ETag),
		// S3 does not return Last-Modified on a put; asking would cost a request and
		// could see a later writer's object.
		ModTime: time.Now(),
	}, nil
}

func (d *Driver) putError(ctx context.Context, key string, src *sourceReader, err error, cond storage.Condition) error {
	if ctx.Err() != nil {
		return classify(ctx, "put", key, err, false)
	}
	if src.err != nil {
		// The caller's reader failed: not a storage failure. Its error is passed on
		// (with its own category, if it has one), as the other backends do.
		return fmt.Errorf("s3: put %q: reading the data: %w", key, src.err)
	}
	return classify(ctx, "put", key, err, !cond.IsZero())
}

// mayHaveStored reports whether a put that failed with err may have stored its object
// all the same. The SDK retries a request whose answer was lost (a connection reset,
// a proxy's 502), and the retry of a put that had in fact been stored then meets its
// own object: a conditional put is refused with 412 (PreconditionFailed), and the
// completion of a multipart upload with 404 (NoSuchUpload, as the first completion
// consumed the upload).
func mayHaveStored(err error) bool {
	if errors.Is(err, storage.ErrPrecondition) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload"
}

// storedByThisPut reads the random header of the object stored under key: if it is
// header, the object is the one this put wrote (no other put draws the same 128
// random bits), and its attributes are returned.
func (d *Driver) storedByThisPut(ctx context.Context, key string, header []byte) (storage.Attributes, bool) {
	out, err := d.client.GetObject(ctx, &s3api.GetObjectInput{
		Bucket: aws.String(d.bucket),
		Key:    aws.String(d.ObjectKey(key)),
		Range:  aws.String("bytes=0-" + strconv.Itoa(headerSize-1)),
	})
	if err != nil {
		return storage.Attributes{}, false
	}
	defer out.Body.Close()
	got := make([]byte, headerSize)
	if _, err := io.ReadFull(out.Body, got); err != nil || !bytes.Equal(got, header) {
		return storage.Attributes{}, false
	}
	stored, ok := rangeTotal(aws.ToString(out.ContentRange))
	if !ok {
		return storage.Attributes{}, false
	}
	size, err := callerSize("put", key, stored)
	if err != nil {
		return storage.Attributes{}, false
	}
	return storage.Attributes{Key: key, Size: size, Version: aws.ToString(out.ETag), ModTime: aws.ToTime(out.LastModified)}, true
}

// sourceReader reads the caller's data for a put: it stops at cancellation, counts
// the bytes and remembers the reader's own error so that it is not mistaken for a
// storage failure. It deliberately has no Seek method.
type sourceReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// Get implements storage.Driver.
func (d *Driver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if err := d.check("get", key); err != nil {
		return nil, storage.Attributes{}, err
	}
	// S3 cannot express an empty range, and answers a range that starts at the end of
	// the object (offset == size, and so any range of an empty object) with 416: those
	// cases are settled with a HEAD. The loop retries when the object changed between
	// the two requests.
	for attempt := 0; ; attempt++ {
		if length != 0 {
			rc, attrs, err := d.get(ctx, key, offset, length)
			if err == nil || !errors.Is(err, storage.ErrInvalidRange) {
				return rc, attrs, err
			}
		}
		attrs, err := d.stat(ctx, "get", key)
		if err != nil {
			return nil, storage.Attributes{}, err
		}
		switch {
		case offset > attrs.Size:
			return nil, storage.Attributes{}, storage.NewError(storage.ErrInvalidRange, "get", key,
				fmt.Errorf("offset %d is past the end of the %d-byte object", offset, attrs.Size))
		case offset == attrs.Size || length == 0:
			return io.NopCloser(strings.NewReader("")), attrs, nil
		case attempt >= 2:
			return nil, storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "get", key,
				errors.New("the object kept changing during a ranged read"))
		}
	}
}

// get does one GetObject of a non-empty range of the caller's bytes, that is of the
// stored object from headerSize+offset on.
func (d *Driver) get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	spec := "bytes=" + strconv.FormatInt(headerSize+offset, 10) + "-"
	if length > 0 && length <= math.MaxInt64-headerSize-offset {
		// (A length so large that the end overflows reads to the end, as any length
		// past the end does.)
		spec += strconv.FormatInt(headerSize+offset+length-1, 10)
	}
	out, err := d.client.GetObject(ctx, &s3api.GetObjectInput{
		Bucket: aws.String(d.bucket),
		Key:    aws.String(d.ObjectKey(key)),
		Range:  aws.String(spec),
	})
	if err != nil {
		return nil, storage.Attributes{}, classify(ctx, "get", key, err, false)
	}
	stored, ok := rangeTotal(aws.ToString(out.ContentRange))
	if !ok {
		out.Body.Close()
		return nil, storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "get", key,
			fmt.Errorf("the server answered a ranged read with Content-Range %q", aws.ToString(out.ContentRange)))
	}
	size, err := callerSize("get", key, stored)
	if err != nil {
		out.Body.Close()
		return nil, storage.Attributes{}, err
	}
	attrs := storage.Attributes{
		Key:     key,
		Size:    size,
		Version: aws.ToString(out.ETag),
		ModTime: aws.ToTime(out.LastModified),
	}
	return &bodyReader{ctx: ctx, rc: out.Body, key: key}, attrs, nil
}

// rangeTotal returns the complete length from a Content-Range header
// ("bytes 0-99/1234").
func rangeTotal(h string) (int64, bool) {
	i := strings.LastIndexByte(h, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(h[i+1:], 10, 64)
	return n, err == nil && n >= 0
}

// bodyReader classifies the errors of a response body: a connection lost in the
// middle of a read is retryable.
type bodyReader struct {
	ctx context.Context
	rc  io.ReadCloser
	key string
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = classify(b.ctx, "get", b.key, err, false)
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if err := d.check("stat", key); err != nil {
		return storage.Attributes{}, err
	}
	return d.stat(ctx, "stat", key)
}

func (d *Driver) stat(ctx context.Context, op, key string) (storage.Attributes, error) {
	out, err := d.client.HeadObject(ctx, &s3api.HeadObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.ObjectKey(key))})
	if err != nil {
		return storage.Attributes{}, classify(ctx, op, key, err, false)
	}
	size, err := callerSize(op, key, aws.ToInt64(out.ContentLength))
	if err != nil {
		return storage.Attributes{}, err
	}
	return storage.Attributes{
		Key:     key,
		Size:    size,
		Version: aws.ToString(out.ETag),
		ModTime: aws.ToTime(out.LastModified),
	}, nil
}

// Delete implements storage.Driver. S3 answers the delete of a missing key with
// success, as the contract wants.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if err := d.check("delete", key); err != nil {
		return err
	}
	_, err := d.client.DeleteObject(ctx, &s3api.DeleteObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.ObjectKey(key))})
	if err != nil {
		return classify(ctx, "delete", key, err, false)
	}
	return nil
}

// List implements storage.Driver. ListObjectsV2 returns keys in ascending UTF-8 byte
// order, which for the contract's ASCII keys is byte order; the paginator hides the
// continuation tokens.
func (d *Driver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		if err := d.check("list", prefix); err != nil {
			yield(storage.Attributes{}, err)
			return
		}
		pages := s3api.NewListObjectsV2Paginator(d.client, &s3api.ListObjectsV2Input{
			Bucket: aws.String(d.bucket),
			Prefix: aws.String(d.prefix + prefix),
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				yield(storage.Attributes{}, classify(ctx, "list", prefix, err, false))
				return
			}
			for _, obj := range page.Contents {
				if err := ctx.Err(); err != nil {
					// A page holds up to 1,000 entries: stop promptly on cancellation.
					yield(storage.Attributes{}, err)
					return
				}
				key, err := keyOf(d.prefix, aws.ToString(obj.Key))
				var size int64
				if err == nil {
					size, err = callerSize("list", key, aws.ToInt64(obj.Size))
				}
				if err != nil {
					yield(storage.Attributes{}, err)
					return
				}
				a := storage.Attributes{
					Key:     key,
					Size:    size,
					Version: aws.ToString(obj.ETag),
					ModTime: aws.ToTime(obj.LastModified),
				}
				if !yield(a, nil) {
					return
				}
			}
		}
	}
}

// Capabilities implements storage.Driver. S3 evaluates If-None-Match and If-Match on
// the server, so conditional puts are atomic across driver instances and processes.
// The name terminator and the prefix take room from S3's 1,024-byte object names,
// and the terminator a byte from the last segment, which MinIO (keeping objects as
// folders) limits to 255 bytes like any segment.
func (d *Driver) Capabilities() storage.Capabilities {
	return storage.Capabilities{
		ConditionalCreate:     true,
		ConditionalReplace:    true,
		SharedAcrossInstances: true,
		MaxKeyLength:          storage.MaxKeyLength - len(d.prefix) - len(terminator),
		MaxSegmentLength:      storage.MaxSegmentLength - len(terminator),
	}
}

// Close implements storage.Driver. Requests already running finish; new ones get
// ErrClosed.
func (d *Driver) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	for _, c := range d.idle {
		c.CloseIdleConnections()
	}
	return nil
}
