package s3

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/lectern/lectern/core/storage"
)

// terminator ends every object name (see "Object format" in the package
// documentation). It sorts before every character storage.ValidateKey allows.
const terminator = "!"

// keyOf returns the storage key of the listed object name.
func keyOf(prefix, name string) (string, error) {
	key, ok := strings.CutPrefix(name, prefix)
	if ok {
		key, ok = strings.CutSuffix(key, terminator)
	}
	if !ok {
		return "", storage.NewError(storage.ErrInvalidArgument, "list", "",
			fmt.Errorf("object %q does not end in %q: it was not written by Lectern", name, terminator))
	}
	return key, nil
}

// headerSize is the length of the random header every stored object starts with (see
// "Object format" in the package documentation). 128 random bits make a repeated
// ETag, and so a repeated version, practically impossible.
const headerSize = 16

// newHeader returns a fresh random header.
func newHeader() []byte {
	h := make([]byte, headerSize)
	_, _ = rand.Read(h) // crypto/rand.Read never fails (Go 1.24+)
	return h
}

// callerSize converts the size of a stored object into the size of the caller's
// bytes in it.
func callerSize(op, key string, stored int64) (int64, error) {
	if stored < headerSize {
		return 0, storage.NewError(storage.ErrInvalidArgument, op, key,
			fmt.Errorf("the object is %d bytes, shorter than the %d-byte header every object of this backend starts with: it was not written by Lectern", stored, headerSize))
	}
	return stored - headerSize, nil
}
