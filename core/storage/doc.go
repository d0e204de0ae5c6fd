// Package storage is Lectern's storage contract: the small set of operations every
// backend (disk, SMB, S3, memory, and any written outside the project) must provide,
// the error categories they report, and the capabilities they may lack.
//
// Backends implement Driver. The engine and the HTTP tier use *Bucket, which wraps a
// Driver and performs the checks that are the same for every backend exactly once:
// key validation, range validation and option validation, all before any I/O. A
// backend therefore never sees an invalid key.
//
// This package must not know about the engine, HTTP, encryption or any concrete
// backend: backends and the conformance suite import it without importing anything
// else of Lectern.
//
// # Semantics every backend provides
//
//   - Put is atomic for the whole object: a concurrent reader sees the old object or
//     the new one, never a mix; a Put whose reader fails or whose context is cancelled
//     leaves the old object (or nothing) in place.
//   - Put may carry a Condition: create-only (IfNotExists) or replace-if-version-matches
//     (IfVersion). Exactly one of several racing conditional writers wins; the others
//     get ErrPrecondition.
//   - Versions are opaque strings returned by Put and Stat; every successful Put
//     produces a version different from the one it replaced.
//   - Get streams a byte range: offset >= 0 and length >= 0, or length == -1 for "to the
//     end". offset == size yields an empty body; offset > size is ErrInvalidRange; a
//     length that runs past the end is cut at the end.
//   - Delete of a missing key succeeds (deleting is idempotent).
//   - List returns every key that starts with a prefix (a plain string prefix, not a
//     directory) in ascending byte order; pagination is the backend's business.
//
// # Optional extensions
//
//   - Mover: rename an object to a key that does not exist, without copying its bytes
//     (disk, SMB, memory). The engine uses it to make a finished one-part upload its
//     content file; without it, Bucket.Move answers ErrUnsupported and the engine
//     copies.
//   - Appender: write after the first bytes of an existing object in place (disk,
//     SMB, memory). The upload stream keeps a multi-request upload in one object
//     with it; without it, each request's bytes go into an object of their own and
//     are joined when the upload completes.
//   - Composer: create an object from the concatenation of others inside the storage
//     (S3). The engine uses it to make a finished multi-part upload its content file
//     without the bytes passing through the server.
//   - LeftoverRemover: remove what writes cut short by the death of their process
//     left behind unnamed (S3: incomplete multipart uploads; disk and SMB: temporary
//     files, and SMB's locks and claims). The engine's sweep calls it for writes
//     begun more than a day before; without it, Bucket.RemoveLeftovers does nothing.
package storage
