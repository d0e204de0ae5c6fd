package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/lectern/lectern/core/storage"
)

// errorCodes maps S3 API error codes to categories. The code decides before the HTTP
// status, because one status covers several meanings (400 is both "bad request" and
// "request timeout"; 404 is both "no such key" and "no such bucket").
var errorCodes = map[string]error{
	"NoSuchKey": storage.ErrNotFound,
	"NotFound":  storage.ErrNotFound, // HEAD responses carry no body, hence no code but this

	"PreconditionFailed":         storage.ErrPrecondition,
	"ConditionalRequestConflict": storage.ErrPrecondition, // a concurrent conditional write won

	"InvalidRange": storage.ErrInvalidRange,

	"AccessDenied":          storage.ErrPermission,
	"AllAccessDisabled":     storage.ErrPermission,
	"InvalidAccessKeyId":    storage.ErrPermission,
	"SignatureDoesNotMatch": storage.ErrPermission,
	"InvalidSecurity":       storage.ErrPermission,
	"InvalidToken":          storage.ErrPermission,
	"ExpiredToken":          storage.ErrPermission,
	"AccountProblem":        storage.ErrPermission,

	"InvalidArgument":  storage.ErrInvalidArgument,
	"InvalidRequest":   storage.ErrInvalidArgument,
	"KeyTooLongError":  storage.ErrInvalidArgument,
	"EntityTooLarge":   storage.ErrInvalidArgument,
	"EntityTooSmall":   storage.ErrInvalidArgument,
	"MetadataTooLarge": storage.ErrInvalidArgument,
	"MalformedXML":     storage.ErrInvalidArgument,

	// A missing bucket is a deployment fault the operator must fix; reporting it as
	// "not found" would make a missing bucket look like missing objects.
	"NoSuchBucket": storage.ErrUnavailable,
	// The upload was aborted under us (a lifecycle rule, a concurrent cleanup): a
	// new attempt starts a new upload.
	"NoSuchUpload":               storage.ErrUnavailable,
	"SlowDown":                   storage.ErrUnavailable,
	"Throttling":                 storage.ErrUnavailable,
	"ThrottlingException":        storage.ErrUnavailable,
	"RequestTimeout":             storage.ErrUnavailable,
	"RequestTimeTooSkewed":       storage.ErrUnavailable,
	"ServiceUnavailable":         storage.ErrUnavailable,
	"InternalError":              storage.ErrUnavailable,
	"XMinioServerNotInitialized": storage.ErrUnavailable,
	// A full store or a bucket over its quota refuses writes until space is freed,
	// as a full disk does on the other backends. MinIO answers a quota with 400, a
	// status that would otherwise blame the request.
	"XMinioStorageFull":              storage.ErrUnavailable,
	"XMinioAdminBucketQuotaExceeded": storage.ErrUnavailable,
	"QuotaExceeded":                  storage.ErrUnavailable, // Ceph RGW and others, with 403
	"InsufficientStorage":            storage.ErrUnavailable,
	"XMinioReadQuorum":               storage.ErrUnavailable,
	"XMinioWriteQuorum":              storage.ErrUnavailable,
	"OperationAborted":               storage.ErrUnavailable,
	"ServerSideEncryptionFailure":    storage.ErrUnavailable,
}

// classify turns an SDK error into a categorized storage error. conditional says
// that the request carried If-Match or If-None-Match, where S3 uses 409 for "another
// conditional write is in progress".
func classify(ctx context.Context, op, key string, err error, conditional bool) error {
	if err == nil {
		return nil
	}
	// Cancellation first: the SDK reports it in several shapes, and the contract
	// wants an error matching the context's own.
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("s3: %s %q: %w (%v)", op, key, ctxErr, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A deadline of the transport (not the caller's): retryable.
		return storage.NewError(storage.ErrUnavailable, op, key, err)
	}
	kind := category(err, conditional)
	if kind == storage.ErrNotFound && conditional {
		// If-Match on a missing key is answered 404: the condition did not hold.
		kind = storage.ErrPrecondition
	}
	return storage.NewError(kind, op, key, err)
}

func category(err error, conditional bool) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if kind, ok := errorCodes[apiErr.ErrorCode()]; ok {
			return kind
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch status := respErr.HTTPStatusCode(); {
		case status == http.StatusNotFound:
			return storage.ErrNotFound
		case status == http.StatusPreconditionFailed:
			return storage.ErrPrecondition
		case status == http.StatusConflict && conditional:
			return storage.ErrPrecondition
		case status == http.StatusRequestedRangeNotSatisfiable:
			return storage.ErrInvalidRange
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return storage.ErrPermission
		case status == http.StatusTooManyRequests || status >= 500:
			return storage.ErrUnavailable
		case status == http.StatusBadRequest || status == http.StatusLengthRequired ||
			status == http.StatusRequestEntityTooLarge:
			return storage.ErrInvalidArgument
		}
	}
	// Anything else did not come from an S3 answer: the connection was refused,
	// reset, timed out or cut in the middle of a body (net.Error, ECONNRESET,
	// io.ErrUnexpectedEOF), or the retryer gave up on such failures
	// (retry.MaxAttemptsError wraps the last one). The rest is an answer we cannot
	// attribute to the request (an unknown code with an unusual status, a body that
	// does not parse). All of these are server or network faults that a later retry
	// may get past, rather than the caller's mistake.
	return storage.ErrUnavailable
}
