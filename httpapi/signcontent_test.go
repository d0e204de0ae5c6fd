package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// TestSignContentFor pins the rules of SignContentFor that do not depend on the
// conferencing routes: the lifetime bounds, the cut to the token's expiry, the
// existence check, and that what it returns opens the file over HTTP.
func TestSignContentFor(t *testing.T) {
	e := newEnv(t)
	loc := layout.Conference{OrgHash: testOrg, ID: testConf}
	e.put(loc.ContentKey(testName), []byte("ciphertext"))
	now := time.Now()
	claimsFor := func(left time.Duration) *Claims {
		return &Claims{Role: RoleAttendee, Conference: testConf,
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(left))}}
	}
	tests := []struct {
		name   string
		claims *Claims
		file   string
		ttl    time.Duration
		want   time.Duration // lifetime from now, when err is nil
		err    error
	}{
		{name: "default", claims: claimsFor(48 * time.Hour), file: testName, want: DefaultSignedURLTTL},
		{name: "maximum", claims: claimsFor(48 * time.Hour), file: testName, ttl: MaxSignedURLTTL, want: MaxSignedURLTTL},
		{name: "cut to the token", claims: claimsFor(time.Minute), file: testName, ttl: time.Hour, want: time.Minute},
		{name: "over the maximum", claims: claimsFor(48 * time.Hour), file: testName, ttl: MaxSignedURLTTL + time.Second, err: errBadRequest},
		{name: "negative", claims: claimsFor(time.Hour), file: testName, ttl: -time.Second, err: errBadRequest},
		{name: "expired token", claims: claimsFor(-time.Second), file: testName, err: ErrTokenExpired},
		{name: "no token", claims: nil, file: testName, err: ErrTokenInvalid},
		{name: "missing file", claims: claimsFor(time.Hour), file: "x00000000000000000000000000000000.epng", err: storage.ErrNotFound},
		{name: "bad name", claims: claimsFor(time.Hour), file: "../conf.xml", err: layout.ErrInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := e.api.SignContentFor(context.Background(), tt.claims, loc, tt.file, tt.ttl)
			if tt.err != nil {
				var ae *Error
				if tt.err == errBadRequest && errors.As(err, &ae) && ae.Code == CodeBadRequest || errors.Is(err, tt.err) {
					return
				}
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				t.Fatal(err)
			}
			// The URL's expiry is in whole seconds: at most the lifetime after the call,
			// at least the lifetime after the test began less the second cut off.
			hi, lo := time.Now().Add(tt.want), now.Add(tt.want-time.Second)
			if s.Expires.After(hi) || s.Expires.Before(lo) {
				t.Fatalf("expires %v, want in [%v, %v]", s.Expires, lo, hi)
			}
			r := e.do("GET", s.URL, nil, nil)
			if r.status != 200 || string(r.body) != "ciphertext" {
				t.Fatalf("GET %s: %d %q", s.URL, r.status, r.body)
			}
		})
	}
}

// errBadRequest marks a want of an *Error with CodeBadRequest.
var errBadRequest = errors.New("bad_request")
