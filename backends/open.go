// Package backends turns a storage URL from the configuration into a ready
// *storage.Bucket, choosing the backend by the URL's scheme:
//
//	file:///abs/folder, file:rel/folder   local disk (package backends/disk)
//	mem://name, mem://                    in-process memory (package backends/memory);
//	                                      a name is shared within the process, an
//	                                      empty name gives a new private store
//	s3://bucket/prefix?endpoint=…         S3 or MinIO (package backends/s3)
//	smb://[domain;]user@host/share/path   a Windows/SMB share (package backends/smb)
//
// Each backend documents and parses its own URL syntax in its package (an OpenURL
// function); this package only dispatches. It must not know any backend's internals,
// nor the engine, HTTP or encryption.
package backends

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/backends/smb"
	"github.com/lectern/lectern/core/storage"
)

// Open opens the storage rawURL names. A malformed URL or an unknown scheme is
// ErrInvalidArgument. Error messages show the URL with any password redacted.
func Open(ctx context.Context, rawURL string) (*storage.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not even the parser's cause is repeated: a password holding '/', '?' or '#'
		// ends the authority early, and the parser then quotes the password's tail
		// as an "invalid port".
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "",
			errors.New("storage URL does not parse (percent-encode any '/', '?', '#', '@' or '%' in a name or password)"))
	}
	d, err := openDriver(ctx, u)
	if err != nil {
		return nil, err
	}
	return storage.NewBucket(d), nil
}

// openDriver dispatches on the scheme (url.Parse has lower-cased it).
func openDriver(ctx context.Context, u *url.URL) (storage.Driver, error) {
	switch u.Scheme {
	case "file":
		return driver(disk.OpenURL(ctx, u))
	case "mem":
		return openMemory(u)
	// Remote backends delegate to the OpenURL of their own package, so that each URL
	// syntax is documented beside its code.
	case "s3":
		return driver(s3.OpenURL(ctx, u))
	case "smb":
		return driver(smb.OpenURL(ctx, u))

	case "":
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("storage URL %q has no scheme (known: %s)", u.Redacted(), knownSchemes))
	default:
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("storage URL %q: unknown scheme %q (known: %s)", u.Redacted(), u.Scheme, knownSchemes))
	}
}

const knownSchemes = "file, mem, s3, smb"

// driver converts a backend's concrete result to the interface without turning a nil
// pointer into a non-nil interface.
func driver[D storage.Driver](d D, err error) (storage.Driver, error) {
	if err != nil {
		return nil, err
	}
	return d, nil
}

// openMemory opens mem://name (the process-wide store of that name) or mem:// (a new
// private store).
func openMemory(u *url.URL) (storage.Driver, error) {
	if u.User != nil || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("memory URL %q: want mem://name or mem://", u.Redacted()))
	}
	if u.Host == "" {
		return memory.New(memory.NewStore()), nil
	}
	return memory.New(memory.Named(u.Host)), nil
}
