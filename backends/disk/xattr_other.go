//go:build unix && !linux

package disk

import (
	"errors"
	"os"
)

// Extended attributes differ between the BSDs and macOS; elsewhere than Linux the
// driver uses the fallback versions described in version.go.
var (
	errUnsupported = errors.New("extended attributes not used on this system")
	errNoAttr      = errors.New("no such attribute")
)

func fsetxattr(*os.File, string, []byte) error        { return errUnsupported }
func fgetxattr(*os.File, string, []byte) (int, error) { return 0, errUnsupported }
