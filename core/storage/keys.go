package storage

import (
	"fmt"
	"strings"
)

// Key limits. They are chosen so that every key fits every backend: 1024 bytes is
// S3's limit for object names, and 255 bytes is the common limit for one path segment
// on NTFS, ext4 and SMB. Backends with a lower limit (a Windows share without long
// path support) report it through Capabilities.MaxKeyLength.
const (
	MaxKeyLength     = 1024
	MaxSegmentLength = 255
)

// ValidateKey checks that key is a storage key: slash-separated, non-empty segments of
// the characters A-Z a-z 0-9 . _ - ~, no segment starting with a dot (this also rules
// out "." and ".."; dot-names are left to backends for temporary and lock files), no
// leading or trailing slash, at most MaxKeyLength bytes in all and MaxSegmentLength
// bytes a segment. Anything else is refused with ErrInvalidArgument.
func ValidateKey(key string) error {
	if err := validatePath(key, false); err != nil {
		return NewError(ErrInvalidArgument, "validate", "", fmt.Errorf("key %q: %w", printable(key), err))
	}
	return nil
}

// ValidatePrefix checks a List prefix: empty, or the start of a valid key (it may end
// with a slash or in the middle of a segment).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := validatePath(prefix, true); err != nil {
		return NewError(ErrInvalidArgument, "validate", "", fmt.Errorf("prefix %q: %w", printable(prefix), err))
	}
	return nil
}

func validatePath(p string, isPrefix bool) error {
	switch {
	case p == "":
		return errorString("is empty")
	case len(p) > MaxKeyLength:
		return fmt.Errorf("is %d bytes long, over the limit of %d", len(p), MaxKeyLength)
	case p[0] == '/':
		return errorString("is absolute")
	}
	for i := 0; i < len(p); i++ {
		if !safeByte(p[i]) {
			return fmt.Errorf("has the disallowed character %q at byte %d", p[i], i)
		}
	}
	segments := strings.Split(p, "/")
	for i, seg := range segments {
		last := i == len(segments)-1
		if seg == "" {
			if isPrefix && last {
				continue // "a/b/" is a fine prefix
			}
			return errorString("has an empty segment")
		}
		if seg[0] == '.' {
			return fmt.Errorf("has the segment %q, which starts with a dot", seg)
		}
		if len(seg) > MaxSegmentLength {
			return fmt.Errorf("has a segment of %d bytes, over the limit of %d", len(seg), MaxSegmentLength)
		}
	}
	return nil
}

func safeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '~' || c == '/'
}

// printable shortens and escapes a rejected key so that an error message stays small.
func printable(s string) string {
	const limit = 80
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

type errorString string

func (e errorString) Error() string { return string(e) }
