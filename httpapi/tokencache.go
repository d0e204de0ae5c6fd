package httpapi

import (
	"strings"
	"sync"
	"time"
)

// verifiedTokens remembers the claims of tokens that passed the full check, so that a
// client's repeated requests (an attendee's browser fetching a deck's slide images
// one after the other) do not parse and HMAC the same JWT each time: that was 14 %
// of the server's CPU on the small-GET path (docs/benchmarks-server.md).
//
// It is safe because a token is immutable and everything Verify checks is a function
// of the token's bytes and the Authority's keys, which never change for one
// Authority — except time, which is checked again on every hit (expiry and issued-at,
// with the same leeway). Only successes are kept: an invalid token is checked in full
// each time, so the cache cannot be filled by a client sending garbage. A full cache
// first drops expired entries and, if that frees nothing, starts over; a bounded map
// that is cleared now and then costs a re-verification per live token, which is the
// uncached cost, so no LRU bookkeeping is needed on the hot path.
type verifiedTokens struct {
	mu      sync.RWMutex
	entries map[string]*Claims
	max     int
}

// maxCachedTokens bounds the cache: about 1–2 MiB of tokens and claims.
const maxCachedTokens = 4096

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{entries: make(map[string]*Claims), max: max}
}

// get returns a copy of the token's claims if it was verified before and is still
// within its validity at now.
func (v *verifiedTokens) get(token string, now time.Time) (*Claims, bool) {
	v.mu.RLock()
	cl, ok := v.entries[token]
	v.mu.RUnlock()
	if !ok || !stillValid(cl, now) {
		return nil, false
	}
	cp := *cl
	return &cp, true
}

// stillValid repeats the time checks of Verify (jwt.WithLeeway(clockLeeway)).
func stillValid(cl *Claims, now time.Time) bool {
	if cl.ExpiresAt == nil || !now.Before(cl.ExpiresAt.Add(clockLeeway)) {
		return false
	}
	return cl.IssuedAt == nil || !now.Add(clockLeeway).Before(cl.IssuedAt.Time)
}

// put remembers a verified token's claims (a private copy of both).
func (v *verifiedTokens) put(token string, cl *Claims, now time.Time) {
	cp := *cl
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.max {
		for k, c := range v.entries {
			if !stillValid(c, now) {
				delete(v.entries, k)
			}
		}
		if len(v.entries) >= v.max {
			clear(v.entries)
		}
	}
	v.entries[strings.Clone(token)] = &cp
}
