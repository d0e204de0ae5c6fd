// Package metadata is Lectern's conference metadata model: the XML documents the
// engine keeps per conference — slide sets (every slide kind of the original system),
// handouts (fileset), and conference.xml — with a strict parser, an encoder that
// never writes XML it could not read back, and the legacy repair path for the
// original system's documents that are not well-formed.
//
// It works on io.Reader / io.Writer only. It must NOT know about storage keys,
// folders, encryption, key wrapping, journaling or HTTP: the engine decides where
// a document lives and encrypts it; this package only turns bytes into a model and
// back. Secret values it carries (content keys, the wrapped master key) never
// appear in its error messages.
//
// Lossless round trip: attributes and child elements this package does not know are
// kept on load (in order) and written back on save; see docs/metadata.md for the
// element reference and the exact preservation rules.
package metadata
