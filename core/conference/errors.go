package conference

import (
	"errors"

	"github.com/lectern/lectern/core/storage"
)

// Error categories of the engine. Storage categories (storage.ErrUnavailable, …) pass
// through unchanged; the HTTP tier maps both to status codes.
var (
	// ErrInvalidInput: the caller's request is malformed (bad id, bad XML, bad name).
	ErrInvalidInput = errors.New("invalid input")
	// ErrNotFound: the conference, slide set, slide, handout or content does not exist.
	// It is storage.ErrNotFound itself, so that one errors.Is check covers both.
	ErrNotFound = storage.ErrNotFound
	// ErrExists: a conference with that id already exists.
	ErrExists = errors.New("already exists")
	// ErrLimit: a size or count limit would be exceeded.
	ErrLimit = errors.New("limit exceeded")
	// ErrGone: the conference has ended or expired and accepts no more changes.
	ErrGone = errors.New("conference has ended")
	// ErrInUse: the content is referenced by a slide set or a live handout, so it
	// cannot be deleted on its own.
	ErrInUse = errors.New("in use")
)
