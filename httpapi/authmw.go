package httpapi

import (
	"errors"
	"strings"

	"github.com/gin-gonic/gin"
)

const ctxClaims = "lectern.claims"

// ClaimsOf returns the verified claims of the request's token, or nil when the request
// was authorized by a signed URL or not authorized at all.
func ClaimsOf(c *gin.Context) *Claims {
	v, _ := c.Get(ctxClaims)
	cl, _ := v.(*Claims)
	return cl
}

// Scope tells Require which conference a request is about; "" means the route is not
// about one conference, which only a global (admin) token may use.
type Scope func(c *gin.Context) string

// ConferenceParam is the Scope of routes whose conference id is the path parameter
// name (for example ConferenceParam("conf") for /v1/conferences/:conf/…).
func ConferenceParam(name string) Scope {
	return func(c *gin.Context) string { return c.Param(name) }
}

// ParamCheck names a path parameter and the function that validates it.
type ParamCheck struct {
	Name  string
	Check func(string) error
}

// ValidateParams returns middleware that answers 400 (the check's error goes through
// Fail, so layout.ErrInvalidID becomes invalid_id) unless every named path parameter
// passes its check. Put it before Require, so that a malformed id is reported as such
// rather than as a token that does not match it.
func ValidateParams(checks ...ParamCheck) gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, pc := range checks {
			if err := pc.Check(c.Param(pc.Name)); err != nil {
				Fail(c, err)
				return
			}
		}
		c.Next()
	}
}

// Require returns middleware that lets a request through only with a valid bearer
// token of at least role min whose scope covers the conference scope names (nil scope:
// a global route). The decisions, documented in docs/api.md:
//
//   - no token, a malformed Authorization header, a bad signature, an expired token:
//     401 unauthenticated with a WWW-Authenticate: Bearer challenge (RFC 6750);
//   - a valid token with a role too low, or scoped to another conference: 403
//     forbidden. The decision is taken from the token and the path alone, before any
//     lookup, so the 403 says nothing about whether the other conference exists;
//   - a conference-scoped token granted before its conference was created (a token of
//     an earlier conference with the same id): 403 forbidden, once the conferencing
//     routes have installed SetConferenceCreated.
func (s *Server) Require(min Role, scope Scope) gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, ok := s.authenticate(c)
		if !ok {
			return
		}
		conf := ""
		if scope != nil {
			conf = scope(c)
		}
		if !claims.Allows(min, conf) {
			s.deny(c, claims, min, conf)
			return
		}
		if !s.checkScopeStart(c, claims, conf) {
			return
		}
		c.Set(ctxClaims, claims)
		c.Next()
	}
}

// authenticate verifies the bearer token; on failure it has answered 401.
func (s *Server) authenticate(c *gin.Context) (*Claims, bool) {
	h := c.GetHeader("Authorization")
	if h == "" {
		unauthenticated(c, "", "a bearer token or a signed URL is required")
		return nil, false
	}
	scheme, token, found := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		unauthenticated(c, "invalid_request", "the Authorization header must be 'Bearer <token>'")
		return nil, false
	}
	claims, err := s.auth.Verify(token)
	if err != nil {
		msg := "invalid token"
		if errors.Is(err, ErrTokenExpired) {
			msg = "token expired"
		}
		unauthenticated(c, "invalid_token", msg)
		return nil, false
	}
	return claims, true
}

func (s *Server) deny(c *gin.Context, claims *Claims, min Role, conf string) {
	c.Header("WWW-Authenticate", `Bearer realm="lectern", error="insufficient_scope"`)
	switch {
	case !claims.Role.AtLeast(min):
		Fail(c, Errorf(CodeForbidden, "this needs the %s role; the token has %s", min, claims.Role))
	case conf == "":
		Fail(c, Errorf(CodeForbidden, "this needs a global admin token; the token is scoped to one conference"))
	default:
		Fail(c, Errorf(CodeForbidden, "the token is not valid for this conference"))
	}
}

func unauthenticated(c *gin.Context, oauthErr, msg string) {
	challenge := `Bearer realm="lectern"`
	if oauthErr != "" {
		// msg is one of this package's fixed texts (no client input), but it is still
		// kept to RFC 6750's set, so that a later text cannot end the quoted-string early.
		challenge += `, error="` + oauthErr + `", error_description="` + challengeDescription(msg) + `"`
	}
	c.Header("WWW-Authenticate", challenge)
	Fail(c, Errorf(CodeUnauthenticated, "%s", msg))
}

// challengeDescription returns msg with every character RFC 6750 §3 forbids in an
// error_description (the set is %x20-21 / %x23-5B / %x5D-7E) replaced: a double quote
// by an apostrophe, a backslash, a control or a non-ASCII character by '?'. Escaping is
// no way out: RFC 6750 forbids the backslash itself.
func challengeDescription(msg string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\' || r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, msg)
}

// requireContent authorizes a content download: a valid signed URL for this path, or
// else a bearer token of any role scoped to the path's conference.
func (s *Server) requireContent(scope Scope) gin.HandlerFunc {
	byToken := s.Require(RoleAttendee, scope)
	return func(c *gin.Context) {
		q := c.Request.URL.Query()
		if !hasSignature(q) {
			byToken(c)
			return
		}
		if err := s.auth.VerifySignedPath(c.Request.Method, c.Request.URL.Path, q); err != nil {
			msg := "invalid signed URL"
			if errors.Is(err, ErrTokenExpired) {
				msg = "signed URL expired"
			}
			unauthenticated(c, "invalid_token", msg)
			return
		}
		c.Next()
	}
}
