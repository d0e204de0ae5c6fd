// Package confapi is the conferencing role's HTTP routes: conferences, slide sets and
// slides of every kind, annotations, handouts, content listing, signed content URLs
// and the live event stream (Server-Sent Events). It plugs into httpapi as a
// RouteRegistrar and calls the conference engine.
//
// It must not know any storage backend or the upload protocol (package stream), and
// it never logs keys or signed URLs: content keys travel only in response bodies and
// events to participants of their own conference, signed URLs only to who asked.
package confapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// Engine is what the routes need of the conference engine.
type Engine interface {
	CreateConference(ctx context.Context, p conference.CreateParams) (conference.Info, error)
	GetConference(ctx context.Context, id string) (conference.Info, error)
	ListConferences(ctx context.Context) ([]conference.Info, error)
	EndConference(ctx context.Context, id string) (conference.Info, error)
	DeleteConference(ctx context.Context, id string) error

	CreateSlideSet(ctx context.Context, conf, name, createdBy string) (*metadata.SlideSet, error)
	SlideSet(ctx context.Context, conf, id string) (*metadata.SlideSet, error)
	SlideSetXML(ctx context.Context, conf, id string) ([]byte, error)
	ListSlideSets(ctx context.Context, conf string) ([]*metadata.SlideSet, error)
	UpdateSlideSet(ctx context.Context, conf, id string, mutate func(*metadata.SlideSet) error) (*metadata.SlideSet, error)
	ReplaceSlideSetXML(ctx context.Context, conf, id string, data []byte) (*metadata.SlideSet, error)
	DeleteSlideSet(ctx context.Context, conf, id string) error

	AddHandout(ctx context.Context, conf string, p conference.HandoutParams) (*metadata.FileSet, error)
	Handout(ctx context.Context, conf, id string) (*metadata.FileSet, error)
	ListHandouts(ctx context.Context, conf string) ([]*metadata.FileSet, error)
	DeleteHandout(ctx context.Context, conf, id string) (*metadata.FileSet, error)

	ListContent(ctx context.Context, conf string) ([]conference.ContentInfo, error)
	DeleteContent(ctx context.Context, conf, name string) error
	OpenContent(ctx context.Context, conf, name string, key encryption.Key, off, n int64) (io.ReadCloser, int64, error)
}

// Config configures the routes.
type Config struct {
	Engine Engine
	// Events is the hub the engine publishes to; nil disables the event stream.
	Events *events.Hub
	// Heartbeat is how often an idle event stream sends a comment (default 15 s), so
	// that proxies keep it open and dead clients are noticed.
	Heartbeat time.Duration
	// MaxXMLBody bounds slide-set XML bodies (default 8 MiB).
	MaxXMLBody int64
	// Done, when closed, ends every open event stream. Close it when the HTTP server
	// starts shutting down: http.Server.Shutdown waits for active requests, and an
	// event stream never finishes by itself. Nil: streams end only with their client.
	Done <-chan struct{}
}

// ErrorRules classify the engine's errors for httpapi.
func ErrorRules() []httpapi.ErrorRule {
	return []httpapi.ErrorRule{
		// The engine wraps a malformed id in both layout.ErrInvalidID and its own
		// ErrInvalidInput; the documented code is invalid_id, so this rule comes
		// before the ErrInvalidInput one (httpapi's own rule for it comes after all
		// of these).
		{Match: httpapi.Is(layout.ErrInvalidID), Code: httpapi.CodeInvalidID},
		// Most specific first: malformed XML is also invalid input.
		{Match: httpapi.Is(metadata.ErrMalformed), Code: httpapi.CodeInvalidXML},
		// A slide sent as XML is parsed here, not by the engine, so the metadata
		// categories reach Fail unwrapped. Their messages never hold attribute values.
		{Match: httpapi.Is(metadata.ErrTooLarge), Code: httpapi.CodeTooLarge},
		{Match: httpapi.Is(metadata.ErrInvalid), Code: httpapi.CodeBadRequest},
		{Match: httpapi.Is(metadata.ErrNotFound), Code: httpapi.CodeNotFound},
		{Match: httpapi.Is(conference.ErrInvalidInput), Code: httpapi.CodeBadRequest},
		{Match: httpapi.Is(conference.ErrExists), Code: httpapi.CodeConflict},
		{Match: httpapi.Is(conference.ErrInUse), Code: httpapi.CodeConflict, Message: "the content is referenced by a slide set or a live handout; remove the reference (or delete the handout) first"},
		{Match: httpapi.Is(conference.ErrGone), Code: httpapi.CodeConflict, Message: "the conference has ended or expired and accepts no more changes"},
		{Match: httpapi.Is(conference.ErrLimit), Code: httpapi.CodeTooLarge},
		// The store's bound on one document (a slide set grown by annotations): a
		// limit like the others, not the invalid storage request its category says.
		{Match: httpapi.Is(metastore.ErrTooLarge), Code: httpapi.CodeTooLarge,
			Message: fmt.Sprintf("the slide set would be over the %d MiB limit of a metadata document", metastore.MaxDocumentSize>>20)},
		{Match: httpapi.Is(encryption.ErrAuthentication), Code: httpapi.CodeBadRequest, Message: "the key does not open this content"},
		{Match: httpapi.Is(encryption.ErrInvalidKey), Code: httpapi.CodeBadRequest, Message: "a key must be 64 lowercase hex characters"},
	}
}

type routes struct {
	cfg Config
	s   *httpapi.Server
}

// Routes returns the registrar of the conferencing routes.
func Routes(cfg Config) httpapi.RouteRegistrar {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.MaxXMLBody <= 0 {
		cfg.MaxXMLBody = 8 << 20
	}
	return func(s *httpapi.Server, api *gin.RouterGroup) {
		r := &routes{cfg: cfg, s: s}
		s.AddErrorRules(ErrorRules()...)
		admin := s.Require(httpapi.RoleAdmin, nil)
		conf := httpapi.ConferenceParam("conf")
		// Every conference-scoped route of the server (these, the uploads) refuses a
		// token of an earlier conference that had the same id.
		s.SetConferenceCreated(func(ctx context.Context, id string) (time.Time, error) {
			info, err := cfg.Engine.GetConference(ctx, id)
			return info.Created, err
		})
		attendee := []gin.HandlerFunc{s.Require(httpapi.RoleAttendee, conf)}
		presenter := []gin.HandlerFunc{s.Require(httpapi.RolePresenter, conf)}
		adminOf := []gin.HandlerFunc{s.Require(httpapi.RoleAdmin, conf)}

		api.POST("/conferences", admin, r.createConference)
		api.GET("/conferences", admin, r.listConferences)
		c := api.Group("/conferences/:conf")
		c.GET("", with(attendee, r.getConference)...)
		c.DELETE("", with(adminOf, r.deleteConference)...)
		c.POST("/end", with(presenter, r.endConference)...)

		c.GET("/slidesets", with(attendee, r.listSlideSets)...)
		c.POST("/slidesets", with(presenter, r.createSlideSet)...)
		c.GET("/slidesets/:set", with(attendee, r.getSlideSet)...)
		c.GET("/slidesets/:set/xml", with(attendee, r.getSlideSetXML)...)
		// The XML routes lift the server-wide body cap to MaxXMLBody, after the
		// guard, so that only an authorized caller may send a body that big.
		xmlLimit := xmlBodyLimit(cfg.MaxXMLBody)
		c.PUT("/slidesets/:set/xml", with(presenter, xmlLimit, r.replaceSlideSetXML)...)
		c.PATCH("/slidesets/:set", with(presenter, r.renameSlideSet)...)
		c.DELETE("/slidesets/:set", with(presenter, r.deleteSlideSet)...)
		c.PUT("/slidesets/:set/order", with(presenter, r.reorderSlides)...)
		c.POST("/slidesets/:set/slides", with(presenter, xmlLimit, r.addSlide)...)
		c.GET("/slidesets/:set/slides/:slide", with(attendee, checkSlideID, r.getSlide)...)
		c.PUT("/slidesets/:set/slides/:slide", with(presenter, checkSlideID, xmlLimit, r.replaceSlide)...)
		c.DELETE("/slidesets/:set/slides/:slide", with(presenter, checkSlideID, r.deleteSlide)...)
		c.POST("/slidesets/:set/slides/:slide/move", with(presenter, checkSlideID, r.moveSlide)...)
		c.POST("/slidesets/:set/slides/:slide/annotations", with(attendee, checkSlideID, r.annotate)...)

		c.GET("/handouts", with(attendee, r.listHandouts)...)
		c.POST("/handouts", with(presenter, r.addHandout)...)
		c.GET("/handouts/:handout", with(attendee, checkHandoutID, r.getHandout)...)
		c.DELETE("/handouts/:handout", with(presenter, checkHandoutID, r.deleteHandout)...)

		c.GET("/content", with(presenter, r.listContent)...)
		c.DELETE("/content/:name", with(presenter, r.deleteContent)...)
		// A client that stops reading is let go (httpapi.StallGuard); not the event
		// stream below, which is quiet between events by design.
		c.GET("/content/:name/plain", with(attendee, s.StallGuard(), r.decryptContent)...)
		c.POST("/content/:name/signed-url", with(attendee, r.signContentURL)...)

		if cfg.Events != nil {
			c.GET("/events", with(attendee, r.events)...)
		}
	}
}

// with returns the handler chain guard followed by hs.
func with(guard []gin.HandlerFunc, hs ...gin.HandlerFunc) []gin.HandlerFunc {
	return append(append([]gin.HandlerFunc(nil), guard...), hs...)
}

// xmlBodyLimit replaces the server-wide body cap (--max-request-body, 1 MiB by
// default) with n for a request whose body is XML. The server-wide cap has already
// wrapped the body in an http.MaxBytesReader, and a reader of n on top of it cannot
// raise that, so the cap must be swapped with httpapi.BodyLimit. Other bodies (JSON
// slides on the same route) keep the server-wide cap.
func xmlBodyLimit(n int64) gin.HandlerFunc {
	lift := httpapi.BodyLimit(n)
	return func(c *gin.Context) {
		if isXMLBody(c) {
			lift(c)
		}
	}
}

// isXMLBody reports whether the request says its body is XML.
func isXMLBody(c *gin.Context) bool {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	return err == nil && (mt == "application/xml" || mt == "text/xml")
}

// CreateConferenceRequest is the body of POST /v1/conferences.
type CreateConferenceRequest struct {
	ID        string    `json:"id"`
	Organizer string    `json:"organizer"`
	Expires   time.Time `json:"expires"`
}

func (r *routes) createConference(c *gin.Context) {
	var req CreateConferenceRequest
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Fail(c, err)
		return
	}
	info, err := r.cfg.Engine.CreateConference(c.Request.Context(), conference.CreateParams{ID: req.ID, Organizer: req.Organizer, Expires: req.Expires})
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.Header("Location", "/v1/conferences/"+info.ID)
	c.JSON(http.StatusCreated, info)
}

func (r *routes) listConferences(c *gin.Context) {
	list, err := r.cfg.Engine.ListConferences(c.Request.Context())
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	if list == nil {
		list = []conference.Info{}
	}
	c.JSON(http.StatusOK, gin.H{"conferences": list})
}

func (r *routes) getConference(c *gin.Context) {
	info, err := r.cfg.Engine.GetConference(c.Request.Context(), c.Param("conf"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

func (r *routes) endConference(c *gin.Context) {
	info, err := r.cfg.Engine.EndConference(c.Request.Context(), c.Param("conf"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

func (r *routes) deleteConference(c *gin.Context) {
	if err := r.cfg.Engine.DeleteConference(c.Request.Context(), c.Param("conf")); err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// subject names the caller for createdby/UploadedBy fields: the token's subject.
func subject(c *gin.Context) string {
	if cl := httpapi.ClaimsOf(c); cl != nil {
		return cl.Subject
	}
	return ""
}

func (r *routes) listContent(c *gin.Context) {
	list, err := r.cfg.Engine.ListContent(c.Request.Context(), c.Param("conf"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	if list == nil {
		list = []conference.ContentInfo{}
	}
	c.JSON(http.StatusOK, gin.H{"content": list})
}

func (r *routes) deleteContent(c *gin.Context) {
	if err := r.cfg.Engine.DeleteContent(c.Request.Context(), c.Param("conf"), c.Param("name")); err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// decryptContent is the convenience mode of SPEC §2: the client presents the key
// (header Lectern-Key, never a query parameter, so it stays out of access logs) and
// the server decrypts. Range requests are served from the covering segments only.
func (r *routes) decryptContent(c *gin.Context) {
	// The path is checked before the key: a malformed name is invalid_id whatever
	// else the request lacks.
	if err := layout.ValidateContentName(c.Param("name")); err != nil {
		httpapi.Fail(c, err)
		return
	}
	key, err := encryption.ParseKey(c.GetHeader("Lectern-Key"))
	if err != nil {
		httpapi.Fail(c, httpapi.Errorf(httpapi.CodeBadRequest, "send the content key in the Lectern-Key header (64 lowercase hex characters)"))
		return
	}
	httpapi.NormalizeRange(c.Request.Header)
	off, n, partial, err := parseRange(c.GetHeader("Range"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	rc, size, err := r.cfg.Engine.OpenContent(c.Request.Context(), c.Param("conf"), c.Param("name"), key, off, n)
	if err != nil {
		if partial && errors.Is(err, storage.ErrInvalidRange) {
			// Only a 416 carries the size (RFC 9110 15.5.17), not a 503 or a 400.
			c.Header("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		}
		httpapi.Fail(c, err)
		return
	}
	defer rc.Close()
	if partial && off >= size {
		// A first byte at the end (the engine reads offset == size as an empty
		// body), and so any range of an empty file, is unsatisfiable (RFC 9110).
		c.Header("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		httpapi.Fail(c, httpapi.Errorf(httpapi.CodeRangeNotSatisfiable, "the range starts at or past the end of the content"))
		return
	}
	// Decrypt (and so authenticate) the first bytes before the status goes out, so
	// that a wrong key is a 400, not a 200 with a broken body. A later damaged segment
	// can only cut the body short; the client sees a short read.
	first := make([]byte, 1)
	k, err := io.ReadFull(rc, first)
	if err != nil && !errors.Is(err, io.EOF) {
		httpapi.Fail(c, err)
		return
	}
	body := io.MultiReader(bytes.NewReader(first[:k]), rc)
	c.Header("Cache-Control", "private, no-store")
	c.Header("Accept-Ranges", "bytes")
	status, length := http.StatusOK, size
	if partial {
		end := size
		if n >= 0 && n < size-off { // not off+n < size, which can overflow
			end = off + n
		}
		length = end - off
		status = http.StatusPartialContent
		c.Header("Content-Range", "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(end-1, 10)+"/"+strconv.FormatInt(size, 10))
	}
	c.DataFromReader(status, length, "application/octet-stream", body, nil)
}
