package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
)

// StatusChecksumMismatch is the tus checksum extension's status for a PATCH whose
// body does not match its Upload-Checksum.
const StatusChecksumMismatch = 460

// tusd answers with its own handler.Error values; these are the ones this package
// adds. Their codes are mapped to the JSON error shape by the response writer.
var (
	errChecksumMismatch  = handler.NewError("ERR_CHECKSUM_MISMATCH", "the body does not match Upload-Checksum; nothing of it was stored", StatusChecksumMismatch)
	errChecksumAlgorithm = handler.NewError("ERR_CHECKSUM_ALGORITHM", "Upload-Checksum must be \"<sha1|sha256|md5> <base64 digest>\"", http.StatusBadRequest)
	errExpired           = handler.NewError("ERR_UPLOAD_EXPIRED", "the upload has expired; start a new one", http.StatusGone)
	errDamagedUpload     = handler.NewError("ERR_UPLOAD_DAMAGED", "the upload's stored parts are incomplete; start a new one", http.StatusGone)
	errConferenceGone    = handler.NewError("ERR_CONFERENCE_ENDED", "the conference has ended or expired and accepts no more uploads", http.StatusConflict)
	errConferenceUnknown = handler.NewError("ERR_CONFERENCE_NOT_FOUND", "no such conference", http.StatusNotFound)
	errUnavailable       = handler.NewError("ERR_STORAGE_UNAVAILABLE", "storage is unavailable, retry later", http.StatusServiceUnavailable)
	errContentType       = handler.NewError("ERR_INVALID_CONTENT_TYPE", "a PATCH body must be Content-Type: application/offset+octet-stream", http.StatusUnsupportedMediaType)
	errNotOwner          = handler.NewError("ERR_FORBIDDEN", "this upload belongs to another user", http.StatusForbidden)
	errFileLimit         = handler.NewError("ERR_LIMIT", "the upload is over the per-file limit for its purpose", http.StatusRequestEntityTooLarge)
	errStorageConflict   = handler.NewError("ERR_UPLOAD_CONFLICT", "another request changed this upload at the same time; ask for the offset again", http.StatusConflict)
	// errLocked replaces tusd's ErrLockTimeout, which is a 500: a request that could
	// not take the upload's lease in time (another request holds it, or a crashed
	// instance's lease has not expired yet) is the client's to retry.
	errLocked = handler.NewError("ERR_UPLOAD_LOCKED", "another request is using this upload; retry shortly", http.StatusLocked)
)

func limitError(err error) error {
	// The engine's limit messages name the limit and its size, never content or keys.
	return handler.NewError("ERR_LIMIT", err.Error(), http.StatusRequestEntityTooLarge)
}

func invalidInput(err error) error {
	return handler.NewError("ERR_INVALID_INPUT", err.Error(), http.StatusBadRequest)
}

// tusError classifies an engine or storage error as the tus answer a client can act
// on. Errors that are the server's fault are returned as they are: tusd answers them
// with 500, and the response writer replaces their text with a generic one.
//
// The answer a client gets names no cause (a storage error names paths and the
// backend's own words); the cause is noted in the request's state instead, for the
// request log and the storage error metrics (see Handler.serve).
func tusError(ctx context.Context, err error) error {
	var te handler.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return err
	}
	answer := classify(err)
	if rs := stateOf(ctx); rs != nil {
		status := http.StatusInternalServerError
		if errors.As(answer, &te) {
			status = te.HTTPResponse.StatusCode
		}
		rs.noteCause(status, err)
	}
	return answer
}

func classify(err error) error {
	switch {
	case errors.Is(err, conference.ErrLimit):
		return limitError(err)
	case errors.Is(err, conference.ErrGone):
		return errConferenceGone
	case errors.Is(err, conference.ErrInvalidInput):
		return invalidInput(err)
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, storage.ErrClosed),
		errors.Is(err, context.DeadlineExceeded):
		return errUnavailable
	case errors.Is(err, storage.ErrPrecondition), errors.Is(err, conference.ErrInUse):
		return errStorageConflict
	case errors.Is(err, encryption.ErrAuthentication), errors.Is(err, errDamaged):
		return errDamagedUpload
	}
	return err
}

// refusal is the engine's permanent refusal of a finished upload's content (bad
// input, a limit, an ended conference): completing it again cannot succeed, so the
// upload is marked refused instead of being retried by every later request (see
// upload.refuse). It unwraps to the tus answer.
type refusal struct{ answer error }

func (r *refusal) Error() string { return r.answer.Error() }
func (r *refusal) Unwrap() error { return r.answer }

// engineError is confError for the engine calls that take a finished upload's
// content: their permanent refusals are marked as such.
func engineError(ctx context.Context, err error) error {
	answer := confError(ctx, err)
	if errors.Is(err, conference.ErrInvalidInput) || errors.Is(err, conference.ErrLimit) || errors.Is(err, conference.ErrGone) {
		return &refusal{answer: answer}
	}
	return answer
}

// refusedError is the answer of an upload whose completion was refused: every
// request but DELETE gets it, until the upload expires.
func refusedError(r *refusedRecord) error {
	return handler.NewError("ERR_UPLOAD_REFUSED", fmt.Sprintf("the upload was refused when it completed (%d: %s); nothing of it is stored; start a new one", r.Status, r.Message), http.StatusGone)
}

// confError is tusError for the engine calls whose ErrNotFound means the conference
// is unknown (rather than an upload object).
func confError(ctx context.Context, err error) error {
	if errors.Is(err, conference.ErrNotFound) {
		return errConferenceUnknown
	}
	return tusError(ctx, err)
}
