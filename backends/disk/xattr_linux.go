package disk

import (
	"os"

	"golang.org/x/sys/unix"
)

var (
	errUnsupported = unix.ENOTSUP // EOPNOTSUPP is the same number on Linux
	errNoAttr      = unix.ENODATA
)

// The descriptor is reached through SyscallConn rather than (*os.File).Fd: Fd would
// switch a non-blocking descriptor to blocking mode for good (two fcntl calls), a side
// effect these reads of an attribute have no business having.

func fsetxattr(f *os.File, name string, value []byte) error {
	return withFd(f, func(fd int) error {
		return ignoringEINTR(func() error { return unix.Fsetxattr(fd, name, value, 0) })
	})
}

func fgetxattr(f *os.File, name string, buf []byte) (n int, err error) {
	err = withFd(f, func(fd int) error {
		return ignoringEINTR(func() error {
			n, err = unix.Fgetxattr(fd, name, buf)
			return err
		})
	})
	return n, err
}

func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}
