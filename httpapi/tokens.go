package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/layout"
)

// DefaultTokenTTL is the lifetime of a token minted through the API without ttl_seconds.
const DefaultTokenTTL = 12 * time.Hour

// TokenInfo describes a token (never the token itself, except in TokenResponse).
type TokenInfo struct {
	ID         string    `json:"id"`
	Role       Role      `json:"role"`
	Conference string    `json:"conference,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Role       string `json:"role"`
	Conference string `json:"conference,omitempty"`
	Subject    string `json:"subject,omitempty"`
	// TTLSeconds is the token's lifetime, 1 to MaxTokenTTL in seconds; absent (nil):
	// DefaultTokenTTL. An explicit 0 is refused, as on the signed-url route.
	TTLSeconds *int64 `json:"ttl_seconds,omitempty"`
}

// TokenResponse is the answer of POST /v1/tokens.
type TokenResponse struct {
	Token string `json:"token"`
	TokenInfo
}

func infoOf(c *Claims) TokenInfo {
	return TokenInfo{ID: c.ID, Role: c.Role, Conference: c.Conference, Subject: c.Subject, ExpiresAt: c.ExpiresAt.Time.UTC()}
}

func (s *Server) registerTokenRoutes() {
	s.api.GET("/token", s.requireAnyToken, s.whoami)
	s.api.POST("/tokens", s.requireAnyToken, s.mintToken)
}

// requireAnyToken lets any valid token through; the handler decides the rest.
func (s *Server) requireAnyToken(c *gin.Context) {
	claims, ok := s.authenticate(c)
	if !ok {
		return
	}
	c.Set(ctxClaims, claims)
	c.Next()
}

// whoami describes the caller's own token, so that a client can check what it holds.
func (s *Server) whoami(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, infoOf(ClaimsOf(c)))
}

// mintToken issues a token. A global admin may mint anything. Otherwise the caller
// must be at least a presenter of the conference asked for, may not mint a role above
// its own, and may not mint a token that outlives its own (a longer lifetime is cut to
// what is left of the caller's): a presenter hands out presenter and attendee tokens
// for its own conference, nothing more (docs/api.md).
func (s *Server) mintToken(c *gin.Context) {
	caller := ClaimsOf(c)
	var req TokenRequest
	if err := DecodeJSON(c, &req); err != nil {
		Fail(c, err)
		return
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		Fail(c, &Error{Code: CodeBadRequest, Message: err.Error()})
		return
	}
	ttl := DefaultTokenTTL
	if req.TTLSeconds != nil {
		if n := *req.TTLSeconds; n < 1 || n > int64(MaxTokenTTL/time.Second) {
			Fail(c, Errorf(CodeBadRequest, "ttl_seconds must be between 1 and %d", int64(MaxTokenTTL/time.Second)))
			return
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	if !caller.Global() {
		// On the Authority's clock, which Verify judged the token by. A token past its
		// expiry but inside Verify's leeway has nothing left to hand on: it is told it
		// expired (401), as SignContentFor does, not asked for a lifetime.
		remaining := caller.ExpiresAt.Sub(s.auth.now()).Truncate(time.Second)
		switch {
		case remaining <= 0:
			Fail(c, ErrTokenExpired)
			return
		case req.Conference == "" || !caller.Allows(RolePresenter, req.Conference):
			Fail(c, Errorf(CodeForbidden, "a conference token can only mint tokens for its own conference, and needs the presenter role"))
			return
		case !caller.Role.AtLeast(role):
			Fail(c, Errorf(CodeForbidden, "a token of role %s cannot mint one of role %s", caller.Role, role))
			return
		case ttl > remaining:
			ttl = remaining
		}
	}
	spec := TokenSpec{Role: role, Conference: req.Conference, Subject: req.Subject, TTL: ttl}
	if !caller.Global() {
		// The new token's scope is no newer than the caller's.
		spec.ScopeSince = caller.ScopeStart()
	}
	tok, claims, err := s.auth.Mint(spec)
	if err != nil {
		if errors.Is(err, layout.ErrInvalidID) {
			Fail(c, err)
			return
		}
		if errors.Is(err, ErrTokenSpec) {
			Fail(c, &Error{Code: CodeBadRequest, Message: err.Error()})
			return
		}
		Fail(c, err)
		return
	}
	s.logger.Info("token minted", "token_id", claims.ID, "role", claims.Role,
		"conference", claims.Conference, "by_token_id", caller.ID)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, TokenResponse{Token: tok, TokenInfo: infoOf(claims)})
}
