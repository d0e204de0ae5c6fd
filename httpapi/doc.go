// Package httpapi is Lectern's HTTPS API tier built on Gin: routing, authentication
// (signed, expiring bearer tokens and signed content URLs), the one JSON error shape
// with its stable codes, request limits, request logs and metrics, the operational
// endpoints (/healthz, /readyz, /metrics) and the components role's content download,
// which serves stored ciphertext straight from a *storage.Bucket.
//
// It must NOT know about encryption keys, the XML model or any concrete backend: it
// serves ciphertext only, learns about storage through the storage contract, and
// maps errors to codes by category (errors.Is), never by message text. The conference
// engine plugs its routes in through RouteRegistrar; this package defines no engine
// interface of its own.
package httpapi
