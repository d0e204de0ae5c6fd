package disk

import (
	"os"

	"golang.org/x/sys/unix"
)

var (
	errUnsupported = unix.ENOTSUP // EOPNOTSUPP is the same number on Linux
	errNoAttr      = unix.ENODATA
)

func fsetxattr(f *os.File, name string, value []byte) error {
	return ignoringEINTR(func() error { return unix.Fsetxattr(int(f.Fd()), name, value, 0) })
}

func fgetxattr(f *os.File, name string, buf []byte) (n int, err error) {
	err = ignoringEINTR(func() error {
		n, err = unix.Fgetxattr(int(f.Fd()), name, buf)
		return err
	})
	return n, err
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}
