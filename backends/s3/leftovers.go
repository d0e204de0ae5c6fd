package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/lectern/lectern/core/storage"
)

// RemoveLeftovers implements storage.LeftoverRemover: it aborts the multipart
// uploads under this driver's prefix that were initiated before the given time. Such
// an upload is what a put or compose leaves when its process dies between the first
// part and the completion; a failed or cancelled one is aborted at once (see Put and
// Compose). Only objects this driver names (prefix + key + terminator) are touched,
// so a bucket shared with other programs keeps their uploads. An upload that is
// already gone (aborted by a concurrent sweep, or completed) is not an error.
//
// This is what an AbortIncompleteMultipartUpload lifecycle rule does; lecternd does
// it itself because AWS buckets have no such rule by default and MinIO's own expiry
// is a server setting the operator may have changed.
func (d *Driver) RemoveLeftovers(ctx context.Context, before time.Time) (int, error) {
	if err := d.check("remove leftovers", ""); err != nil {
		return 0, err
	}
	// The whole bucket is listed and filtered here: MinIO answers a Prefix that is
	// not a whole object name with no uploads at all (AWS filters properly), and a
	// bucket normally holds few unfinished uploads.
	pages := s3api.NewListMultipartUploadsPaginator(d.client, &s3api.ListMultipartUploadsInput{
		Bucket: aws.String(d.bucket),
	})
	removed := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return removed, classify(ctx, "remove leftovers", "", err, false)
		}
		for _, u := range page.Uploads {
			name := aws.ToString(u.Key)
			key, err := keyOf(d.prefix, name)
			if err != nil || storage.ValidateKey(key) != nil {
				continue // not ours
			}
			if u.Initiated == nil || !u.Initiated.Before(before) {
				continue
			}
			_, err = d.client.AbortMultipartUpload(ctx, &s3api.AbortMultipartUploadInput{
				Bucket: aws.String(d.bucket), Key: u.Key, UploadId: u.UploadId,
			})
			if err != nil {
				var apiErr smithy.APIError
				if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload" {
					continue // another sweep, or the write itself, got there first
				}
				return removed, classify(ctx, "remove leftovers", key, fmt.Errorf("aborting multipart upload %s: %w", aws.ToString(u.UploadId), err), false)
			}
			removed++
		}
	}
	return removed, nil
}
