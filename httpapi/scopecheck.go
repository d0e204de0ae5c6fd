package httpapi

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/storage"
)

// ConferenceCreated tells when a conference was created; a not-found error means it
// does not exist (then the route's own handler answers 404).
type ConferenceCreated func(ctx context.Context, conference string) (time.Time, error)

// TokenClockSkew is how much earlier than its conference's creation a token may say
// its scope was granted: the instance that minted it and the one that created the
// conference may disagree a little on the time (expiry is checked with the same
// leeway).
const TokenClockSkew = 30 * time.Second

type scopeChecker struct {
	created atomic.Pointer[ConferenceCreated]
}

// SetConferenceCreated installs the lookup with which Require refuses a
// conference-scoped token whose scope was granted before its conference was created
// (Claims.ScopeStart). Tokens name a conference by id, and an id is free again once
// its conference is deleted: without the check, a token of a deleted conference
// would open whichever conference takes the id next (another organizer's). The
// conferencing routes install it; the components role has no engine to ask, and
// serves only content whose names are unguessable and gone with their conference.
func (s *Server) SetConferenceCreated(fn ConferenceCreated) { s.scope.created.Store(&fn) }

// checkScopeStart is Require's last step for conference-scoped tokens. It answers
// and returns false when the token predates the conference.
func (s *Server) checkScopeStart(c *gin.Context, claims *Claims, conf string) bool {
	lookup := s.scope.created.Load()
	if lookup == nil || conf == "" || claims.Global() {
		return true
	}
	created, err := (*lookup)(c.Request.Context(), conf)
	if errors.Is(err, storage.ErrNotFound) {
		return true // the handler answers 404: a missing conference has no data to guard
	}
	if err != nil {
		Fail(c, err)
		return false
	}
	if start := claims.ScopeStart(); start.IsZero() || start.Add(TokenClockSkew).Before(created) {
		c.Header("WWW-Authenticate", `Bearer realm="lectern", error="insufficient_scope"`)
		Fail(c, Errorf(CodeForbidden, "the token was issued for an earlier conference with this id"))
		return false
	}
	return true
}
