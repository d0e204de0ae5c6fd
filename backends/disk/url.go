//go:build unix

package disk

import (
	"context"
	"fmt"
	"net/url"

	"github.com/lectern/lectern/core/storage"
)

// OpenURL opens a disk driver from a file URL:
//
//	file:///var/lib/lectern        an absolute folder (RFC 8089)
//	file://localhost/var/lib/lectern  the same
//	file:lectern-data, file:./lectern-data  a folder relative to the current directory,
//	                               made absolute when the driver is opened
//
// file://./data is refused rather than guessed at: in URL syntax "." there is a host
// name, not a folder. The URL takes no user, query or fragment.
func OpenURL(ctx context.Context, u *url.URL) (*Driver, error) {
	bad := func(format string, args ...any) error {
		return storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("file URL %s: "+format, append([]any{u.Redacted()}, args...)...))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case u.Scheme != "file":
		return nil, bad("scheme is %q, want file", u.Scheme)
	case u.User != nil:
		return nil, bad("a user name has no meaning for a local folder")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, bad("takes no parameters")
	case u.Fragment != "":
		return nil, bad("takes no fragment")
	}
	var path string
	switch {
	case u.Opaque != "":
		p, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return nil, bad("%v", err)
		}
		path = p
	case u.Host != "" && u.Host != "localhost":
		return nil, bad("names the host %q; write an absolute folder as file:///path and a relative one as file:path or file:./path", u.Host)
	case u.Path == "":
		return nil, bad("names no folder")
	default:
		path = u.Path
	}
	return New(path)
}
