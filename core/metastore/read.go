package metastore

import (
	"context"
	"errors"
	"fmt"

	"github.com/lectern/lectern/core/storage"
)

// MaxFileSize bounds a file this package reads: a sealed document of
// MaxDocumentSize and its envelope (magic, name, generation, nonce and tag, well
// under 64 KiB). A larger file cannot be one of ours, and is not read into memory
// whole: a store's files are read at every open. Tools that read a store's files
// themselves (fsck, inspect) use the same bound.
const MaxFileSize = MaxDocumentSize + 64<<10

// readSealed reads the file at key (relative to the prefix). A file over
// MaxFileSize is a *CorruptError, read no further than the bound.
func (s *Store) readSealed(ctx context.Context, key string) ([]byte, storage.Attributes, error) {
	data, attrs, err := s.bucket.ReadAllLimit(ctx, s.prefix+key, MaxFileSize)
	if tl := (*storage.TooLargeError)(nil); errors.As(err, &tl) {
		return nil, attrs, &CorruptError{Key: key, Reason: fmt.Sprintf("is over %d bytes, larger than any file of this store", MaxFileSize)}
	}
	return data, attrs, err
}
