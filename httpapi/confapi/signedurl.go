package confapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/httpapi"
)

// SignedURLRequest is the optional body of POST
// /v1/conferences/{conf}/content/{name}/signed-url.
type SignedURLRequest struct {
	// TTLSeconds is how long the URL lives, 1 to 86400; absent: an hour. It is cut to
	// what is left of the asking token's life.
	TTLSeconds *int64 `json:"ttl_seconds,omitempty"`
}

// signContentURL mints a signed URL of one content file of the conference, for a
// client that cannot send the bearer token with the download (an <img> or <video>
// element, a download manager). Whoever may download the file with a token may mint
// one (any role of the conference); the URL lives no longer than that token.
func (r *routes) signContentURL(c *gin.Context) {
	name := c.Param("name")
	if err := layout.ValidateContentName(name); err != nil {
		httpapi.Fail(c, err)
		return
	}
	var req SignedURLRequest
	if _, err := httpapi.DecodeOptionalJSON(c, &req); err != nil {
		httpapi.Fail(c, err)
		return
	}
	ttl := httpapi.DefaultSignedURLTTL
	if req.TTLSeconds != nil {
		maxSec := int64(httpapi.MaxSignedURLTTL / time.Second)
		if n := *req.TTLSeconds; n < 1 || n > maxSec {
			httpapi.Fail(c, httpapi.Errorf(httpapi.CodeBadRequest, "ttl_seconds must be between 1 and %d", maxSec))
			return
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	ctx := c.Request.Context()
	info, err := r.cfg.Engine.GetConference(ctx, c.Param("conf"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	caller := httpapi.ClaimsOf(c)
	signed, err := r.s.SignContentFor(ctx, caller, info.Location(), name, ttl)
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	// The URL is a credential until it expires: it goes to the caller only, never to
	// the log, and no cache keeps the answer.
	r.s.Logger().Info("signed content URL minted", "conference", info.ID, "content", name,
		"expires", signed.Expires, "by_token_id", caller.ID)
	c.Header("Cache-Control", "no-store")
	// PureJSON: the URL's "&" as it is, not "\u0026", so that a shell script can take
	// it out of the answer without a JSON decoder.
	c.PureJSON(http.StatusOK, signed)
}
