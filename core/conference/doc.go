// Package conference is Lectern's engine: conferences and their master keys, slide
// sets and slides, handouts, encrypted content with limits, retention and compliance
// copies. It ties together the storage layout (core/layout), the metadata model
// (core/metadata), its crash-safe persistence (core/metastore), the content
// encryption format (core/encryption), master-key wrapping (core/keywrap) and the
// event hub (core/events).
//
// It must not know HTTP, the tus protocol or any concrete backend: it works on a
// *storage.Bucket, and the HTTP tier (httpapi, stream) calls it.
//
// One engine should own a conference at a time (the conferencing role of the
// original); several engines may share a backend, and the things that must be unique
// between them (conference ids, slide-set and handout ids, content names) are made
// unique with the backend's conditional writes.
package conference
