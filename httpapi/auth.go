package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lectern/lectern/core/layout"
)

// Role is what a token allows. Roles are ordered: admin can do what a presenter can,
// a presenter what an attendee can.
type Role string

// The roles. "organizer" is accepted as a synonym of presenter when parsing.
const (
	RoleAdmin     Role = "admin"
	RolePresenter Role = "presenter"
	RoleAttendee  Role = "attendee"
)

func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RolePresenter:
		return 2
	case RoleAttendee:
		return 1
	}
	return 0
}

// AtLeast reports whether r includes the rights of min.
func (r Role) AtLeast(min Role) bool { return r.rank() > 0 && r.rank() >= min.rank() }

// ParseRole parses a role name; "organizer" means presenter.
func ParseRole(s string) (Role, error) {
	switch s {
	case "admin":
		return RoleAdmin, nil
	case "presenter", "organizer":
		return RolePresenter, nil
	case "attendee":
		return RoleAttendee, nil
	}
	return "", fmt.Errorf("%w: unknown role %q (admin, presenter, organizer, attendee)", ErrTokenSpec, s)
}

// Token errors, matched with errors.Is.
var (
	// ErrTokenInvalid: malformed, badly signed, wrong algorithm, unknown key, bad claims.
	ErrTokenInvalid = errors.New("invalid token")
	// ErrTokenExpired: the token was valid but its expiry has passed.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenSpec: Mint was asked for a token that must not exist.
	ErrTokenSpec = errors.New("invalid token request")
)

const (
	tokenIssuer = "lectern"
	// MinSecretLength is the shortest server secret accepted (256 bits).
	MinSecretLength = 32
	// MaxTokenTTL bounds how long a minted token may live.
	MaxTokenTTL = 366 * 24 * time.Hour
	// clockLeeway tolerates small clock differences between the instances of a pool.
	clockLeeway = 30 * time.Second
)

// Claims are the contents of a Lectern token: a JWT signed with HS256.
//
// HS256 rather than EdDSA: every instance that verifies tokens (conferencing and
// components alike) must also verify signed content URLs, which need a shared HMAC
// secret anyway, so an asymmetric token key would not keep any instance from holding
// a secret; and HMAC verification is cheap on the small-GET path.
type Claims struct {
	Role Role `json:"role"`
	// Conference is the conference id the token is scoped to; empty only for a global
	// admin token.
	Conference string `json:"conf,omitempty"`
	// ScopeSince, when set, is when the token's conference scope was first granted,
	// earlier than IssuedAt: a token minted by a conference-scoped token inherits the
	// minter's, so that minting cannot make a token of an earlier conference of the
	// same id look newer than the conference (see ScopeStart).
	ScopeSince *jwt.NumericDate `json:"scope_since,omitempty"`
	jwt.RegisteredClaims
}

// ScopeStart is when the token's conference scope was granted: ScopeSince if set,
// else IssuedAt (zero if neither). A conference created after it is not the one the
// token was meant for, even if it has the same id.
func (c *Claims) ScopeStart() time.Time {
	switch {
	case c.ScopeSince != nil:
		return c.ScopeSince.Time
	case c.IssuedAt != nil:
		return c.IssuedAt.Time
	}
	return time.Time{}
}

// Global reports whether the token is not scoped to a conference (admin only).
func (c *Claims) Global() bool { return c.Conference == "" }

// Allows reports whether the claims give at least role min on the conference; an
// empty conference means a route that is not about one conference, which only a
// global token may use.
func (c *Claims) Allows(min Role, conference string) bool {
	if !c.Role.AtLeast(min) {
		return false
	}
	return c.Global() || conference != "" && c.Conference == conference
}

// TokenSpec describes a token to mint.
type TokenSpec struct {
	Role       Role
	Conference string // required unless Role is admin
	Subject    string // who it is for (free text, e.g. a user name); optional
	TTL        time.Duration
	// ScopeSince, when not zero, is the ScopeStart of the token that asks for this
	// one (Claims.ScopeSince); zero means the scope starts now.
	ScopeSince time.Time
}

// Authority mints and verifies tokens and signs and verifies content URLs. Its keys
// are derived from one server secret; older secrets may be kept for verification so
// that a secret can be rotated without invalidating every token at once.
type Authority struct {
	keys     []authKey // keys[0] signs; all verify
	now      func() time.Time
	verified *verifiedTokens
}

type authKey struct {
	id       string // the JWT "kid": a fingerprint of the secret, not the secret
	tokenKey []byte
	urlKey   []byte
}

// NewAuthority returns an Authority for secret (at least MinSecretLength bytes);
// previous secrets are accepted for verification only.
func NewAuthority(secret []byte, previous ...[]byte) (*Authority, error) {
	a := &Authority{now: time.Now, verified: newVerifiedTokens(maxCachedTokens)}
	for _, s := range append([][]byte{secret}, previous...) {
		if len(s) < MinSecretLength {
			return nil, fmt.Errorf("httpapi: token secret is %d bytes, need at least %d", len(s), MinSecretLength)
		}
		fp := sha256.Sum256(append([]byte("lectern key id\x00"), s...))
		a.keys = append(a.keys, authKey{
			id:       hex.EncodeToString(fp[:6]),
			tokenKey: derive(s, "lectern token v1"),
			urlKey:   derive(s, "lectern content url v1"),
		})
	}
	return a, nil
}

// derive separates the uses of one secret, so that a signed URL can never pass for a
// token signature or the other way round.
func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// NewSecret returns a fresh random server secret.
func NewSecret() []byte {
	b := make([]byte, MinSecretLength)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

// Mint signs a token. It refuses a non-admin token without a conference, an invalid
// conference id, and a TTL that is not positive or over MaxTokenTTL.
func (a *Authority) Mint(spec TokenSpec) (string, *Claims, error) {
	if spec.Role.rank() == 0 {
		return "", nil, fmt.Errorf("%w: unknown role %q", ErrTokenSpec, spec.Role)
	}
	if spec.Conference == "" && spec.Role != RoleAdmin {
		return "", nil, fmt.Errorf("%w: a %s token must be scoped to a conference", ErrTokenSpec, spec.Role)
	}
	if spec.Conference != "" {
		if err := layout.ValidateConferenceID(spec.Conference); err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrTokenSpec, err)
		}
	}
	if spec.TTL <= 0 || spec.TTL > MaxTokenTTL {
		return "", nil, fmt.Errorf("%w: lifetime %s is not in (0, %s]", ErrTokenSpec, spec.TTL, MaxTokenTTL)
	}
	now := a.now().Truncate(time.Second)
	claims := &Claims{
		Role:       spec.Role,
		Conference: spec.Conference,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   spec.Subject,
			ID:        newTokenID(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(spec.TTL)),
		},
	}
	if !spec.ScopeSince.IsZero() && spec.Conference != "" {
		claims.ScopeSince = jwt.NewNumericDate(spec.ScopeSince.Truncate(time.Second))
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = a.keys[0].id
	s, err := t.SignedString(a.keys[0].tokenKey)
	if err != nil {
		return "", nil, fmt.Errorf("httpapi: sign token: %w", err)
	}
	return s, claims, nil
}

func newTokenID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Verify checks a token's signature, algorithm, issuer and expiry and returns its
// claims. Errors match ErrTokenExpired or ErrTokenInvalid; their text never contains
// the token.
func (a *Authority) Verify(token string) (*Claims, error) {
	now := a.now()
	if cl, ok := a.verified.get(token, now); ok {
		return cl, nil
	}
	claims := &Claims{}
	_, err := jwt.ParseWithClaims(token, claims, a.keyFor,
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockLeeway),
		jwt.WithTimeFunc(a.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	case err != nil:
		// jwt's messages describe the failure (never the token itself), which helps
		// the client see what is wrong with what it sent.
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if claims.Role.rank() == 0 || claims.Global() && claims.Role != RoleAdmin {
		return nil, fmt.Errorf("%w: bad role or scope", ErrTokenInvalid)
	}
	if claims.Conference != "" && layout.ValidateConferenceID(claims.Conference) != nil {
		return nil, fmt.Errorf("%w: bad conference scope", ErrTokenInvalid)
	}
	a.verified.put(token, claims, now)
	return claims, nil
}

// TimeLeft is how long Verify will still accept the token of the claims: until its
// expiry plus the clock leeway, on the Authority's clock. A long-lived request (an
// event stream) that was authorized once ends then, so that the client comes back
// with a fresh token.
func (a *Authority) TimeLeft(cl *Claims) time.Duration {
	if cl == nil || cl.ExpiresAt == nil {
		return 0
	}
	return cl.ExpiresAt.Add(clockLeeway).Sub(a.now())
}

func (a *Authority) keyFor(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	for _, k := range a.keys {
		if hmac.Equal([]byte(kid), []byte(k.id)) {
			return k.tokenKey, nil
		}
	}
	return nil, errors.New("unknown key id")
}
