package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/lectern/lectern/core/storage"
)

// apiError builds an error shaped as the SDK returns an S3 error response, for the
// answers a MinIO test server cannot be made to give (throttling, 409 conflicts).
func apiError(status int, code string) error {
	var inner error
	if code != "" {
		inner = &smithy.GenericAPIError{Code: code, Message: "message text is never looked at"}
	} else {
		inner = errors.New("no body")
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      inner,
		},
	}}
}

func TestCategory(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		conditional bool
		want        error
	}{
		{"no_such_key", apiError(404, "NoSuchKey"), false, storage.ErrNotFound},
		{"head_404", apiError(404, ""), false, storage.ErrNotFound},
		{"if_match_on_missing_key", apiError(404, "NoSuchKey"), true, storage.ErrPrecondition},
		{"no_such_bucket", apiError(404, "NoSuchBucket"), false, storage.ErrUnavailable},
		{"precondition_failed", apiError(412, "PreconditionFailed"), true, storage.ErrPrecondition},
		{"status_412", apiError(412, ""), true, storage.ErrPrecondition},
		{"conditional_conflict", apiError(409, "ConditionalRequestConflict"), true, storage.ErrPrecondition},
		{"409_on_conditional_put", apiError(409, ""), true, storage.ErrPrecondition},
		{"409_otherwise", apiError(409, "OperationAborted"), false, storage.ErrUnavailable},
		{"invalid_range", apiError(416, "InvalidRange"), false, storage.ErrInvalidRange},
		{"access_denied", apiError(403, "AccessDenied"), false, storage.ErrPermission},
		{"status_403", apiError(403, ""), false, storage.ErrPermission},
		{"slow_down", apiError(503, "SlowDown"), false, storage.ErrUnavailable},
		{"status_429", apiError(429, ""), false, storage.ErrUnavailable},
		{"internal_error", apiError(500, "InternalError"), false, storage.ErrUnavailable},
		{"request_timeout_400", apiError(400, "RequestTimeout"), false, storage.ErrUnavailable},
		{"bad_request", apiError(400, "InvalidArgument"), false, storage.ErrInvalidArgument},
		{"minio_storage_full", apiError(507, "XMinioStorageFull"), false, storage.ErrUnavailable},
		{"minio_bucket_quota", apiError(400, "XMinioAdminBucketQuotaExceeded"), false, storage.ErrUnavailable},
		{"quota_exceeded_403", apiError(403, "QuotaExceeded"), false, storage.ErrUnavailable},
		{"status_507", apiError(507, ""), false, storage.ErrUnavailable},
		{"key_too_long", apiError(400, "KeyTooLongError"), false, storage.ErrInvalidArgument},
		{"status_400", apiError(400, ""), false, storage.ErrInvalidArgument},
		{"retries_exhausted", &retry.MaxAttemptsError{Attempt: 5, Err: apiError(503, "SlowDown")}, false, storage.ErrUnavailable},
		{"connection_refused", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, false, storage.ErrUnavailable},
		{"connection_reset", fmt.Errorf("read: %w", syscall.ECONNRESET), false, storage.ErrUnavailable},
		{"body_cut_short", io.ErrUnexpectedEOF, false, storage.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(context.Background(), "put", "k", tt.err, tt.conditional)
			if kind := storage.KindOf(err); kind != tt.want {
				t.Fatalf("classify(%v) has category %v, want %v", tt.err, kind, tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("classify lost the cause: %v", err)
			}
		})
	}
}

func TestClassifyCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cause := &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: errors.New("canceled")}
	err := classify(ctx, "get", "k", cause, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("classify under a cancelled context = %v, want context.Canceled", err)
	}
	if storage.KindOf(err) != nil {
		t.Fatalf("a cancellation also matches category %v", storage.KindOf(err))
	}
	// A deadline of the transport, while the caller's context is live, is retryable.
	err = classify(context.Background(), "get", "k", fmt.Errorf("dial: %w", context.DeadlineExceeded), false)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("transport deadline = %v, want ErrUnavailable", err)
	}
}
