package metastore

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/lectern/lectern/core/storage"
)

// maxSealedSize bounds a file this package reads: a sealed document of
// MaxDocumentSize and its envelope (magic, name, generation, nonce and tag, well
// under 64 KiB). A larger file cannot be one of ours, and is not read into memory
// whole: a store's files are read at every open.
const maxSealedSize = MaxDocumentSize + 64<<10

// readSealed reads the file at key (relative to the prefix). A file over
// maxSealedSize is a *CorruptError, read no further than the bound.
func (s *Store) readSealed(ctx context.Context, key string) ([]byte, storage.Attributes, error) {
	rc, attrs, err := s.bucket.Get(ctx, s.prefix+key, 0, -1)
	if err != nil {
		return nil, attrs, err
	}
	defer rc.Close()
	tooLarge := &CorruptError{Key: key, Reason: fmt.Sprintf("is over %d bytes, larger than any file of this store", maxSealedSize)}
	if attrs.Size > maxSealedSize {
		return nil, attrs, tooLarge
	}
	var buf bytes.Buffer
	buf.Grow(int(max(attrs.Size, 0)))
	// The size is checked on the bytes too: it may have changed since the answer.
	n, err := buf.ReadFrom(io.LimitReader(rc, maxSealedSize+1))
	if err != nil {
		return nil, attrs, err
	}
	if n > maxSealedSize {
		return nil, attrs, tooLarge
	}
	return buf.Bytes(), attrs, nil
}
