//go:build unix

package metastore_test

import "syscall"

// os_SIGKILL is the signal of a kill -9: no handler, no flush, no deferred call.
var os_SIGKILL = syscall.SIGKILL
