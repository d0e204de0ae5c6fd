package httpapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/storage"
)

// TestRequireRefusesTokensOlderThanTheirConference: once the conferencing routes
// install the lookup, every route guarded by Require (here a stand-in for another
// route group, such as the uploads) refuses a token granted before its conference
// was created, lets current tokens and global admins through, and leaves a missing
// conference to the handler.
func TestRequireRefusesTokensOlderThanTheirConference(t *testing.T) {
	created := time.Now()
	e := newEnv(t, func(cfg *Config) {
		cfg.Routes = append(cfg.Routes, func(s *Server, api *gin.RouterGroup) {
			s.SetConferenceCreated(func(ctx context.Context, conf string) (time.Time, error) {
				switch conf {
				case "reused":
					return created, nil
				case "down":
					return time.Time{}, storage.NewError(storage.ErrUnavailable, "get", conf, errors.New("injected"))
				}
				return time.Time{}, storage.NewError(storage.ErrNotFound, "get", conf, nil)
			})
			api.POST("/things/:conf", s.Require(RolePresenter, ConferenceParam("conf")), func(c *gin.Context) { c.Status(http.StatusNoContent) })
		})
	})
	old, _, err := e.auth.WithClock(func() time.Time { return created.Add(-time.Hour) }).Mint(TokenSpec{Role: RolePresenter, Conference: "reused", TTL: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, token string
		want              int
	}{
		{"token of the earlier conference", "/v1/things/reused", old, 403},
		{"current token", "/v1/things/reused", e.token(RolePresenter, "reused"), 204},
		{"global admin", "/v1/things/reused", e.token(RoleAdmin, ""), 204},
		{"missing conference: the handler decides", "/v1/things/gone", e.token(RolePresenter, "gone"), 204},
		{"lookup fails: storage unavailable", "/v1/things/down", e.token(RolePresenter, "down"), 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", tt.path, bearer(tt.token), nil)
			if r.status != tt.want {
				t.Fatalf("%d, want %d: %s", r.status, tt.want, r.body)
			}
		})
	}
}
