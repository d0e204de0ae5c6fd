package storage

import (
	"errors"
	"fmt"
)

// Error categories. Every error a backend returns for a failed operation must match
// exactly one of these with errors.Is (context cancellation may match
// context.Canceled or context.DeadlineExceeded instead). Callers decide what to do by
// category, never by message text.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPrecondition: a conditional put lost, because the key already exists
	// (create-only) or its version no longer matches (replace).
	ErrPrecondition = errors.New("precondition failed")
	// ErrInvalidArgument: the request itself is wrong (bad key, bad options); retrying
	// it cannot help.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrInvalidRange: a read starts past the end of the object.
	ErrInvalidRange = errors.New("invalid range")
	// ErrUnavailable: the storage could not be reached or failed transiently (connection
	// dropped, server restarting, throttled, sharing violation). Retrying later may
	// succeed.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrPermission: the backend's credentials are not allowed to do this.
	ErrPermission = errors.New("permission denied")
	// ErrUnsupported: the backend lacks the capability the request needs.
	ErrUnsupported = errors.New("not supported by this backend")
	// ErrClosed: the driver has been closed.
	ErrClosed = errors.New("storage closed")
)

// categories lists the sentinels in the order KindOf tests them.
var categories = []error{
	ErrNotFound, ErrPrecondition, ErrInvalidArgument, ErrInvalidRange,
	ErrUnavailable, ErrPermission, ErrUnsupported, ErrClosed,
}

// Error is a classified storage error. Kind is one of the category sentinels; Err is
// the underlying cause (it may be nil) and is reachable through errors.Unwrap, so that
// callers can still inspect a backend's own error types with errors.As.
type Error struct {
	Kind error  // the category sentinel
	Op   string // "put", "get", "stat", "delete", "list", ...
	Key  string // the storage key (never secret material)
	Err  error  // the cause, may be nil
}

// NewError returns a classified error. kind must be one of the category sentinels.
func NewError(kind error, op, key string, cause error) error {
	return &Error{Kind: kind, Op: op, Key: key, Err: cause}
}

func (e *Error) Error() string {
	msg := e.Op
	if e.Key != "" {
		msg += fmt.Sprintf(" %q", e.Key)
	}
	msg += ": " + e.Kind.Error()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is this error's category.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the category sentinel err belongs to, or nil if it is unclassified.
func KindOf(err error) error {
	for _, c := range categories {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// IsRetryable reports whether err is a transient failure worth retrying.
func IsRetryable(err error) bool { return errors.Is(err, ErrUnavailable) }
