package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lectern/lectern/core/layout"
)

// Signed content URLs let a client download one content file until an expiry without
// a bearer token (for a browser <img> tag, a video element, a download manager). The
// URL carries ?exp=<unix seconds>&sig=<base64url HMAC-SHA256>, where the HMAC covers
// the method, the path and the expiry:
//
//	"GET" "\n" path "\n" exp
//
// HEAD is signed and checked as GET: whoever may download may ask for the headers.
// The path already names the organizer hash, the conference and the 128-bit random
// content name, so a signature is good for exactly one file.

// Query parameter names of a signed URL.
const (
	SignedURLExpiry    = "exp"
	SignedURLSignature = "sig"
)

func canonicalMethod(m string) string {
	if m == http.MethodHead {
		return http.MethodGet
	}
	return m
}

func (k authKey) urlMAC(method, path string, exp int64) []byte {
	m := hmac.New(sha256.New, k.urlKey)
	m.Write([]byte(canonicalMethod(method) + "\n" + path + "\n" + strconv.FormatInt(exp, 10)))
	return m.Sum(nil)
}

// SignPath returns the query parameters that authorize method on path until exp.
func (a *Authority) SignPath(method, path string, exp time.Time) url.Values {
	e := exp.Unix()
	return url.Values{
		SignedURLExpiry:    {strconv.FormatInt(e, 10)},
		SignedURLSignature: {base64.RawURLEncoding.EncodeToString(a.keys[0].urlMAC(method, path, e))},
	}
}

// SignedContentURL returns path?exp=…&sig=… good for GET and HEAD for ttl.
func (a *Authority) SignedContentURL(path string, ttl time.Duration) string {
	return path + "?" + a.SignPath(http.MethodGet, path, a.now().Add(ttl)).Encode()
}

// hasSignature reports whether the query tries to be a signed URL.
func hasSignature(q url.Values) bool {
	return q.Has(SignedURLSignature) || q.Has(SignedURLExpiry)
}

// VerifySignedPath checks the exp and sig parameters of q for method on path. Errors
// match ErrTokenExpired or ErrTokenInvalid.
func (a *Authority) VerifySignedPath(method, path string, q url.Values) error {
	exps, sigs := q[SignedURLExpiry], q[SignedURLSignature]
	if len(exps) != 1 || len(sigs) != 1 {
		return fmt.Errorf("%w: a signed URL needs exactly one %s and one %s", ErrTokenInvalid, SignedURLExpiry, SignedURLSignature)
	}
	exp, err := strconv.ParseInt(exps[0], 10, 64)
	if err != nil || exp <= 0 || exps[0][0] == '+' {
		return fmt.Errorf("%w: %s is not a Unix time", ErrTokenInvalid, SignedURLExpiry)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigs[0])
	if err != nil || len(sig) != sha256.Size {
		return fmt.Errorf("%w: malformed signature", ErrTokenInvalid)
	}
	valid := false
	for _, k := range a.keys {
		if hmac.Equal(sig, k.urlMAC(method, path, exp)) {
			valid = true
		}
	}
	if !valid {
		return fmt.Errorf("%w: signature does not match", ErrTokenInvalid)
	}
	// Expiry is checked after the signature, so that an expired answer is only given
	// for a URL the server really issued.
	if a.now().Unix() > exp {
		return ErrTokenExpired
	}
	return nil
}

// Lifetimes of a signed content URL minted through the API (POST
// /v1/conferences/{conf}/content/{name}/signed-url).
const (
	DefaultSignedURLTTL = time.Hour
	// MaxSignedURLTTL bounds a signed URL: it cannot be revoked, only outlived.
	MaxSignedURLTTL = 24 * time.Hour
)

// SignedURL is a signed content URL and the last second it is accepted.
type SignedURL struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// SignContentFor mints a signed URL of one stored content file for the holder of
// claims, whom the caller has authorized to read loc's content. The URL is good for
// ttl (DefaultSignedURLTTL when zero), but never past the token's own expiry: a signed
// URL must not outlive the authority of whoever asked for it. The file must exist
// (else an error matching storage.ErrNotFound), so that nobody is handed a URL that
// can never work. The URL is a credential: the caller must not log it.
func (s *Server) SignContentFor(ctx context.Context, claims *Claims, loc layout.Conference, name string, ttl time.Duration) (SignedURL, error) {
	if err := layout.ValidateContentName(name); err != nil {
		return SignedURL{}, err
	}
	switch {
	case ttl == 0:
		ttl = DefaultSignedURLTTL
	case ttl < 0 || ttl > MaxSignedURLTTL:
		return SignedURL{}, Errorf(CodeBadRequest, "a signed URL lives between 1 second and %s", MaxSignedURLTTL)
	}
	if claims == nil || claims.ExpiresAt == nil {
		return SignedURL{}, fmt.Errorf("%w: a signed URL is minted for a bearer token", ErrTokenInvalid)
	}
	now := s.auth.now()
	exp := now.Add(ttl)
	if tokenExp := claims.ExpiresAt.Time; tokenExp.Before(exp) {
		exp = tokenExp
	}
	// A token past its expiry but inside Verify's leeway would get a URL that is dead
	// on arrival.
	if exp.Unix() <= now.Unix() {
		return SignedURL{}, ErrTokenExpired
	}
	if _, err := s.content.Stat(ctx, loc.ContentKey(name)); err != nil {
		return SignedURL{}, fmt.Errorf("content %s of conference %s: %w", name, loc.ID, err)
	}
	path := ContentPath(loc.OrgHash, loc.ID, name)
	q := s.auth.SignPath(http.MethodGet, path, exp)
	return SignedURL{URL: path + "?" + q.Encode(), Expires: time.Unix(exp.Unix(), 0).UTC()}, nil
}
