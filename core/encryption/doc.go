// Package encryption is Lectern's one encrypted file format, used for uploaded
// content and for the .exml metadata files alike: AES-256-GCM over fixed-size
// segments (the STREAM construction), with a versioned header, per-file subkeys
// derived with HKDF-SHA256, random access to any segment, a writer that can resume
// at a segment boundary, and constant memory. The byte layout, the reasoning and the
// test vectors are in docs/format.md; a browser can decrypt the format with
// WebCrypto alone.
//
// Keys are opaque 256-bit values: Key never prints, logs or marshals its bytes, and
// no error of this package contains key material.
//
// This package must NOT know where bytes live (storage backends, HTTP), how keys are
// stored or wrapped (conference master keys, the server KEK), or how files are named;
// callers pass readers, writers and keys.
package encryption

import "errors"

// Error categories; match them with errors.Is. Errors from the underlying reader or
// writer (I/O errors) are passed through wrapped and match none of these.
var (
	// ErrAuthentication: a segment failed authentication. The ciphertext was
	// modified, segments were reordered, duplicated or taken from another file or
	// another header, the key is wrong, or a segment was cut short inside its bytes
	// (which cannot be told apart from modification).
	ErrAuthentication = errors.New("encryption: authentication failed")
	// ErrTruncated: the ciphertext ends before its final segment (cut at a segment
	// boundary, inside the header, or too short to hold a segment's tag).
	ErrTruncated = errors.New("encryption: ciphertext truncated")
	// ErrFormat: not this format, or an unsupported version or parameter.
	ErrFormat = errors.New("encryption: invalid or unsupported format")
	// ErrInvalidKey: a key in text form is not 64 lowercase hex characters.
	ErrInvalidKey = errors.New("encryption: invalid key")
	// ErrTooLarge: the plaintext does not fit in 2^32 segments, or a size or
	// range argument is out of bounds.
	ErrTooLarge = errors.New("encryption: size out of range")
	// ErrClosed: Write or Close on a Writer that is already closed or failed.
	ErrClosed = errors.New("encryption: writer closed")
)
