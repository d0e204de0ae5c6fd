package httpapi

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyRefusesForgedClaims: Verify is the one gate for every token. A token
// signed with the server's own key but with claims Mint never writes must still be
// refused: another issuer's token sharing the secret, a token that never expires, one
// issued in the future (a clock-skewed or forged minter), an attendee or presenter
// token without a conference (it would pass every conference's scope check), an
// unknown role, a conference id that could not name a conference, another HMAC
// algorithm, or a key id that is missing or unknown. Each case drops one check of
// Verify; a control token shows the signing itself is right.
func TestVerifyRefusesForgedClaims(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	a, err := NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	a = a.WithClock(func() time.Time { return now })
	kid := a.keys[0].id
	const (
		noKid    = "\x00absent"
		emptyKid = ""
	)
	claims := func(role Role, conf string, edit func(*jwt.RegisteredClaims)) *Claims {
		rc := jwt.RegisteredClaims{Issuer: tokenIssuer, Subject: "s", ID: "x",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
		if edit != nil {
			edit(&rc)
		}
		return &Claims{Role: role, Conference: conf, RegisteredClaims: rc}
	}
	sign := func(t *testing.T, m jwt.SigningMethod, kid string, cl *Claims) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, cl)
		if kid != noKid {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(a.keys[0].tokenKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs256 := jwt.SigningMethodHS256
	cases := []struct {
		name   string
		method jwt.SigningMethod
		kid    string
		claims *Claims
		want   error // nil: accepted
	}{
		{"control: global admin", hs256, kid, claims(RoleAdmin, "", nil), nil},
		{"control: conference attendee", hs256, kid, claims(RoleAttendee, "conf-a", nil), nil},
		{"control: expired within the leeway", hs256, kid, claims(RolePresenter, "conf-a", func(rc *jwt.RegisteredClaims) {
			rc.ExpiresAt = jwt.NewNumericDate(now.Add(-clockLeeway + 5*time.Second))
		}), nil},
		{"control: issued within the leeway ahead", hs256, kid, claims(RoleAdmin, "", func(rc *jwt.RegisteredClaims) {
			rc.IssuedAt = jwt.NewNumericDate(now.Add(clockLeeway - 5*time.Second))
		}), nil},
		{"expired beyond the leeway", hs256, kid, claims(RoleAdmin, "", func(rc *jwt.RegisteredClaims) {
			rc.ExpiresAt = jwt.NewNumericDate(now.Add(-clockLeeway - 5*time.Second))
		}), ErrTokenExpired},
		{"wrong issuer", hs256, kid, claims(RoleAdmin, "", func(rc *jwt.RegisteredClaims) { rc.Issuer = "someone-else" }), ErrTokenInvalid},
		{"no issuer", hs256, kid, claims(RoleAdmin, "", func(rc *jwt.RegisteredClaims) { rc.Issuer = "" }), ErrTokenInvalid},
		{"no expiry", hs256, kid, claims(RoleAdmin, "", func(rc *jwt.RegisteredClaims) { rc.ExpiresAt = nil }), ErrTokenInvalid},
		{"issued in the future", hs256, kid, claims(RoleAdmin, "", func(rc *jwt.RegisteredClaims) {
			rc.IssuedAt = jwt.NewNumericDate(now.Add(clockLeeway + time.Hour))
		}), ErrTokenInvalid},
		{"global attendee", hs256, kid, claims(RoleAttendee, "", nil), ErrTokenInvalid},
		{"global presenter", hs256, kid, claims(RolePresenter, "", nil), ErrTokenInvalid},
		{"unknown role", hs256, kid, claims(Role("root"), "conf-a", nil), ErrTokenInvalid},
		{"no role", hs256, kid, claims("", "conf-a", nil), ErrTokenInvalid},
		{"malformed conference id", hs256, kid, claims(RoleAttendee, "../conf-a", nil), ErrTokenInvalid},
		{"admin of a malformed conference id", hs256, kid, claims(RoleAdmin, "Conf A", nil), ErrTokenInvalid},
		{"HS384 with the right key", jwt.SigningMethodHS384, kid, claims(RoleAdmin, "", nil), ErrTokenInvalid},
		{"HS512 with the right key", jwt.SigningMethodHS512, kid, claims(RoleAdmin, "", nil), ErrTokenInvalid},
		{"no kid", hs256, noKid, claims(RoleAdmin, "", nil), ErrTokenInvalid},
		{"empty kid", hs256, emptyKid, claims(RoleAdmin, "", nil), ErrTokenInvalid},
		{"unknown kid", hs256, kid + "x", claims(RoleAdmin, "", nil), ErrTokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, tc.method, tc.kid, tc.claims)
			cl, err := a.Verify(tok)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("a well-formed token was refused: %v", err)
				}
				if cl.Role != tc.claims.Role || cl.Conference != tc.claims.Conference {
					t.Fatalf("claims %+v, want role %q conference %q", cl, tc.claims.Role, tc.claims.Conference)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v (claims %+v), want %v", err, cl, tc.want)
			}
			if cl != nil {
				t.Fatalf("refused token returned claims %+v", cl)
			}
			// Refused once, refused again: a refusal must not be cached as a pass.
			if _, err := a.Verify(tok); !errors.Is(err, tc.want) {
				t.Fatalf("second Verify: %v", err)
			}
		})
	}
}
