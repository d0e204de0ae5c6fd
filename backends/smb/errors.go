package smb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/lectern/lectern/core/storage"
)

// NT status codes ([MS-ERREF] 2.3.1) this backend tells apart. go-smb2 keeps its table
// internal, so the values are repeated here. go-smb2 already turns
// OBJECT_NAME_COLLISION into os.ErrExist, OBJECT_NAME/PATH_NOT_FOUND into
// os.ErrNotExist and ACCESS_DENIED/CANNOT_DELETE into os.ErrPermission; every other
// status arrives as *smb2.ResponseError with its code.
const (
	statusInvalidHandle          = 0xC0000008
	statusInvalidParameter       = 0xC000000D
	statusNoSuchFile             = 0xC000000F
	statusObjectNameInvalid      = 0xC0000033
	statusObjectPathSyntaxBad    = 0xC000003B
	statusSharingViolation       = 0xC0000043
	statusQuotaExceeded          = 0xC0000044
	statusFileLockConflict       = 0xC0000054
	statusLockNotGranted         = 0xC0000055
	statusDeletePending          = 0xC0000056
	statusLogonFailure           = 0xC000006D
	statusDiskFull               = 0xC000007F
	statusInsufficientResources  = 0xC000009A
	statusMediaWriteProtected    = 0xC00000A2
	statusIOTimeout              = 0xC00000B5
	statusFileIsADirectory       = 0xC00000BA
	statusNotSupported           = 0xC00000BB
	statusNetworkNameDeleted     = 0xC00000C9
	statusNetworkAccessDenied    = 0xC00000CA
	statusBadNetworkName         = 0xC00000CC
	statusDirectoryNotEmpty      = 0xC0000101
	statusNotADirectory          = 0xC0000103
	statusNameTooLong            = 0xC0000106
	statusTooManyOpenedFiles     = 0xC000011F
	statusFileDeleted            = 0xC0000123
	statusFileClosed             = 0xC0000128
	statusUserSessionDeleted     = 0xC0000203
	statusConnectionDisconnected = 0xC000020C
	statusConnectionReset        = 0xC000020D
	statusPathNotCovered         = 0xC0000257
	statusNetworkSessionExpired  = 0xC000035C
)

// ntStatus returns the NT status carried by err, if any.
func ntStatus(err error) (uint32, bool) {
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		return re.Code, true
	}
	return 0, false
}

func hasStatus(err error, codes ...uint32) bool {
	c, ok := ntStatus(err)
	if !ok {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// isBusy reports a share-mode conflict: another handle (of this or another client)
// keeps the file open in a way that blocks this request. Retrying later may succeed.
func isBusy(err error) bool {
	return hasStatus(err, statusSharingViolation, statusDeletePending, statusFileLockConflict, statusLockNotGranted)
}

// isConnectionLost reports an error after which the connection (or its session or
// tree connect) cannot be used again: the pool drops it and the next operation dials.
func isConnectionLost(err error) bool {
	var te *smb2.TransportError
	var ire *smb2.InvalidResponseError
	var ne net.Error
	switch {
	case errors.As(err, &te), errors.As(err, &ire), errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNREFUSED):
		return true
	}
	return hasStatus(err, statusNetworkNameDeleted, statusUserSessionDeleted, statusNetworkSessionExpired,
		statusConnectionDisconnected, statusConnectionReset, statusIOTimeout, statusInvalidHandle, statusFileClosed)
}

// closedByServer reports a request that failed because the server closed its
// connection (end of stream, reset): the smbd process serving the connection died, or
// the server dropped a connection the pool was handing out. Not a server that stopped
// answering (the watchdog's errStalled), nor a caller that gave up.
func closedByServer(err error) bool {
	var te *smb2.TransportError
	if !errors.As(err, &te) {
		return false
	}
	return errors.Is(te.Err, io.EOF) || errors.Is(te.Err, io.ErrUnexpectedEOF) ||
		errors.Is(te.Err, syscall.ECONNRESET) || errors.Is(te.Err, syscall.EPIPE)
}

// onceMoreIfClosed runs op, and runs it once more if it failed because the server
// closed the connection under it (closedByServer), as net/http retries an idempotent
// request whose reused connection died. op must be safe to repeat (a read), and takes
// its connection from the pool: the first one was dropped, so the second run gets a
// fresh one. Smbd 4.17 closes a connection now and then while other clients create and
// remove the same folders (its process for the connection ends); without this, such
// an operation failed as unavailable though the server was up.
func onceMoreIfClosed(ctx context.Context, op func() error) error {
	err := op()
	if err != nil && closedByServer(err) && ctx.Err() == nil {
		err = op()
	}
	return err
}

func isContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// classify turns an error of go-smb2 (or of the network) into a storage error of the
// right category, by error type and NT status code, never by message text. Context
// errors stay context errors.
func classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var se *storage.Error
	if errors.As(err, &se) {
		return err
	}
	if isContext(err) {
		return fmt.Errorf("smb %s %q: %w", op, key, err)
	}
	return storage.NewError(kindOf(err), op, key, err)
}

func kindOf(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return storage.ErrNotFound
	case errors.Is(err, os.ErrExist):
		return storage.ErrPrecondition
	case errors.Is(err, os.ErrPermission):
		return storage.ErrPermission
	case errors.Is(err, smb2.ErrRequestNotAccepted):
		return storage.ErrUnavailable
	case isBusy(err), isConnectionLost(err):
		return storage.ErrUnavailable
	}
	if code, ok := ntStatus(err); ok {
		switch code {
		case statusLogonFailure, statusNetworkAccessDenied, statusMediaWriteProtected, statusBadNetworkName:
			return storage.ErrPermission
		case statusObjectNameInvalid, statusObjectPathSyntaxBad, statusNameTooLong,
			statusFileIsADirectory, statusNotADirectory:
			// A key too long for the server, or a key whose path runs through an object
			// (a/b when a is an object) or names a folder (a when a/b exists): a file
			// share cannot hold both, and retrying cannot help.
			return storage.ErrInvalidArgument
		case statusNotSupported, statusPathNotCovered:
			return storage.ErrUnsupported
		case statusDiskFull, statusQuotaExceeded, statusInsufficientResources, statusTooManyOpenedFiles, statusFileDeleted:
			return storage.ErrUnavailable
		}
	}
	// Anything else is a server or network condition this backend does not know; it is
	// reported as retryable so that callers back off rather than give up on data.
	return storage.ErrUnavailable
}
