package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/lectern/lectern/core/storage"
)

var _ storage.Composer = (*Driver)(nil)

// maxCopyPart is S3's upper limit for one UploadPartCopy.
const maxCopyPart = 5 << 30

// copiesInFlight bounds the UploadPartCopy requests of one Compose.
const copiesInFlight = 4

// ComposeLimits implements storage.Composer: S3's least part size applies to every
// source but the last, and a list must fit in one multipart upload.
func (d *Driver) ComposeLimits() (int64, int) { return minPartSize, maxParts }

// Compose implements storage.Composer with a multipart upload whose parts are
// server-side copies (UploadPartCopy) of the sources' bytes, completed with
// If-None-Match: *, so that it is create-only and atomic like a conditional put.
//
// Every object begins with its own random header (see "Object format"), which a
// copy cannot write. So the first non-empty source is copied whole, header and all,
// and its header becomes dst's; the later ones are copied without theirs. dst's
// ETag is then unique as long as its first source's header is, the same guarantee
// a put gives; composing the same first source into the same key again (after a
// delete) would repeat it, with the same bytes. A source larger than S3's 5 GiB limit
// for one copy is copied in several ranges. A failure aborts the multipart upload.
func (d *Driver) Compose(ctx context.Context, dst string, srcs []string) (storage.Attributes, error) {
	if err := d.check("compose", dst); err != nil {
		return storage.Attributes{}, err
	}
	ranges, total, err := d.composeRanges(ctx, srcs)
	if err != nil {
		return storage.Attributes{}, err
	}
	if len(ranges) == 0 {
		// Only empty sources: an empty object is a put of a fresh header.
		return d.Put(ctx, dst, strings.NewReader(""), storage.PutOptions{Condition: storage.Condition{IfNotExists: true}})
	}
	created, err := d.client.CreateMultipartUpload(ctx, &s3api.CreateMultipartUploadInput{
		Bucket: aws.String(d.bucket), Key: aws.String(d.ObjectKey(dst)),
	})
	if err != nil {
		return storage.Attributes{}, classify(ctx, "compose", dst, err, false)
	}
	uploadID := created.UploadId
	completed, err := d.copyParts(ctx, dst, uploadID, ranges)
	if err == nil {
		var out *s3api.CompleteMultipartUploadOutput
		out, err = d.client.CompleteMultipartUpload(ctx, &s3api.CompleteMultipartUploadInput{
			Bucket: aws.String(d.bucket), Key: aws.String(d.ObjectKey(dst)), UploadId: uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
			IfNoneMatch:     aws.String("*"),
		}, d.slowOp)
		if err == nil {
			return storage.Attributes{Key: dst, Size: total, Version: aws.ToString(out.ETag), ModTime: time.Now()}, nil
		}
		err = classify(ctx, "compose", dst, err, true)
	}
	// Leave no parts behind, even when the caller has given up.
	abortCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, aerr := d.client.AbortMultipartUpload(abortCtx, &s3api.AbortMultipartUploadInput{
		Bucket: aws.String(d.bucket), Key: aws.String(d.ObjectKey(dst)), UploadId: uploadID,
	}); aerr != nil {
		err = errors.Join(err, fmt.Errorf("s3: compose %q: aborting the multipart upload: %w", dst, aerr))
	}
	return storage.Attributes{}, err
}

// copyRange is one UploadPartCopy: stored bytes [first, last] of an object.
type copyRange struct {
	object      string
	first, last int64
}

// composeRanges looks at every source and returns the ranges to copy and the size
// of the caller's bytes in dst.
func (d *Driver) composeRanges(ctx context.Context, srcs []string) ([]copyRange, int64, error) {
	var ranges []copyRange
	var total int64
	for i, src := range srcs {
		attrs, err := d.stat(ctx, "compose", src)
		if err != nil {
			return nil, 0, err
		}
		if i < len(srcs)-1 && attrs.Size < minPartSize {
			return nil, 0, storage.NewError(storage.ErrInvalidArgument, "compose", src,
				fmt.Errorf("a source before the last is %d bytes, under S3's least part size of %d", attrs.Size, int64(minPartSize)))
		}
		if attrs.Size == 0 {
			continue
		}
		first := int64(headerSize)
		if len(ranges) == 0 {
			first = 0 // the first bytes carry their header into dst
		}
		end := headerSize + attrs.Size // stored size
		pieces := (end - first + maxCopyPart - 1) / maxCopyPart
		step := (end - first + pieces - 1) / pieces
		for off := first; off < end; off += step {
			ranges = append(ranges, copyRange{object: d.ObjectKey(src), first: off, last: min(off+step, end) - 1})
		}
		total += attrs.Size
	}
	if len(ranges) > maxParts {
		return nil, 0, storage.NewError(storage.ErrInvalidArgument, "compose", "", fmt.Errorf("the sources need %d parts, over S3's %d", len(ranges), maxParts))
	}
	return ranges, total, nil
}

// copyParts copies the ranges into the multipart upload, a few at a time, and returns
// the completed parts in order.
func (d *Driver) copyParts(ctx context.Context, dst string, uploadID *string, ranges []copyRange) ([]types.CompletedPart, error) {
	parts := make([]types.CompletedPart, len(ranges))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copiesInFlight)
	for i, r := range ranges {
		g.Go(func() error {
			out, err := d.client.UploadPartCopy(gctx, &s3api.UploadPartCopyInput{
				Bucket: aws.String(d.bucket), Key: aws.String(d.ObjectKey(dst)), UploadId: uploadID,
				PartNumber:      aws.Int32(int32(i + 1)),
				CopySource:      aws.String(copySource(d.bucket, r.object)),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", r.first, r.last)),
			}, d.slowOp)
			if err != nil {
				return classify(ctx, "compose", dst, err, false)
			}
			if out.CopyPartResult == nil {
				return storage.NewError(storage.ErrUnavailable, "compose", dst, errors.New("UploadPartCopy answered without a part"))
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			return nil
		})
	}
	return parts, g.Wait()
}

// copySource is the x-amz-copy-source value: bucket and object name, URL-encoded
// (the object's slashes kept).
func copySource(bucket, object string) string {
	return url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(object), "%2F", "/")
}
