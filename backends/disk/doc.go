// Package disk is Lectern's local-folder storage backend: each key is a file under a
// root folder, at the key's slash-separated path. Several drivers, in one process or
// in several processes (two servers sharing one folder, possibly over NFS), may use the
// same root at once; conditional puts stay atomic between all of them.
//
// How the contract is met:
//
//   - Put writes a temporary dot-file in the key's directory (keys never have a segment
//     starting with a dot, so it never collides with a key and List never shows it),
//     fsyncs it, then moves it into place and fsyncs the directory. A failing reader or
//     a cancelled context removes the temporary file and leaves the old object. A put
//     holds an flock on its temporary file until it is published, so the file a killed
//     process left behind is recognised as dead (its lock can be taken) and removed
//     when its directory's last key is deleted (temps.go).
//   - Create-only puts publish the temporary file with link(2), which fails with EEXIST
//     if the key exists, atomically in the file system: no stat-then-rename window.
//   - Replace-if-version puts check the version and rename while holding the key's lock
//     (an in-process semaphore plus flock(2) on a lock file in <root>/.lectern/locks);
//     unconditional puts and deletes take the same lock, so nothing can change the file
//     between the check and the rename.
//   - Versions change on every put; see version.go.
//   - Get streams a range of the open file; the reader keeps its file open, so a
//     concurrent replace or delete never gives it a mix of two objects.
//   - List walks the directories in an order that is exactly the byte order of the full
//     keys (see list.go) and streams; memory use grows with the directory depth and
//     width, not with the number of keys.
//   - Objects are regular files; List does not follow symbolic links and skips
//     anything else it finds (sockets, devices).
//   - Delete removes the file and then the directories it leaves empty, up to the root.
//     A put whose directory is removed under it creates it again.
//
// A key cannot be both an object and a "directory" of other keys (after putting "a",
// putting "a/b" fails with ErrInvalidArgument, and the other way round), because a file
// system path cannot be both a file and a folder; the driver declares this with
// Capabilities.FileTree. Keys map to plain paths, so a folder written by the original
// system (folders of files) is readable as it is.
//
// The package knows only the storage contract and the operating system; it must not
// know the engine, HTTP, encryption or other backends. It needs a Unix-like system
// (link, flock); extended attributes are used on Linux.
package disk
