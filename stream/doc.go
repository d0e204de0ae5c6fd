// Package stream is Lectern's resumable upload endpoint: the tus 1.0 protocol (core,
// creation, creation-defer-length, termination, expiration and checksum) scoped to one
// conference, with the bytes encrypted on the fly and never written in plain text.
//
// The protocol is handled by github.com/tus/tusd/v2's handler (v2.8.0); this package
// supplies its DataStore over a *storage.Bucket, a Locker built on the storage
// contract's conditional writes (so several instances can share uploads), the
// checksum extension (which tusd v2.8.0 lacks), the expiration extension, and the
// glue that mounts it on the Gin API with httpapi's authorization. docs/uploads.md
// describes the protocol subset, the storage layout and the resume rules.
//
// Storage layout of an unfinished upload, all under uploads/<conference>/<upload id>/:
//
//	info              JSON: metadata, content name, header, the content key wrapped
//	part-<segment>    whole encrypted segments written by one PATCH; part-0 starts
//	                  with the content header
//	tail              the plaintext after the last whole segment, sealed (random salt)
//	stage             a checksum PATCH's bytes, sealed, until the checksum is verified
//	lock, unlock      the cross-instance lease and a request to give it up
//
// On a backend that can append (storage.Appender) an upload created there grows in
// place in part-0, and the tail is its commit record. On completion the final segment
// (made from the tail) is sealed into the last part, and the engine adopts the parts
// as the conference's content: one part is renamed, several are composed inside the
// storage where it can (storage.Composer) and copied otherwise. docs/uploads.md has
// the commit points and resume rules.
//
// It must NOT know any concrete backend, the XML model or how conference master keys
// are kept: it talks to storage through the storage contract and to conferences
// through the small Engine interface of config.go, and it never logs or returns a key
// except to the uploader in the completion answer.
package stream
