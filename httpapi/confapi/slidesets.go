package confapi

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/httpapi"
)

func (r *routes) location(c *gin.Context) layout.Conference {
	info, err := r.cfg.Engine.GetConference(c.Request.Context(), c.Param("conf"))
	if err != nil {
		return layout.Conference{ID: c.Param("conf")}
	}
	return info.Location()
}

func (r *routes) listSlideSets(c *gin.Context) {
	sets, err := r.cfg.Engine.ListSlideSets(c.Request.Context(), c.Param("conf"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	out := make([]SlideSetSummary, 0, len(sets))
	for _, s := range sets {
		out = append(out, summarize(s))
	}
	c.JSON(http.StatusOK, gin.H{"slidesets": out})
}

// CreateSlideSetRequest is the body of POST …/slidesets.
type CreateSlideSetRequest struct {
	Name string `json:"name"`
}

func (r *routes) createSlideSet(c *gin.Context) {
	var req CreateSlideSetRequest
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Fail(c, err)
		return
	}
	if len(req.Name) > maxTextField {
		httpapi.Fail(c, httpapi.Errorf(httpapi.CodeBadRequest, "name is too long"))
		return
	}
	set, err := r.cfg.Engine.CreateSlideSet(c.Request.Context(), c.Param("conf"), req.Name, subject(c))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+set.ID)
	noStore(c)
	c.JSON(http.StatusCreated, viewSet(r.location(c), set))
}

func (r *routes) getSlideSet(c *gin.Context) {
	if wantsXML(c) {
		r.getSlideSetXML(c)
		return
	}
	set, err := r.cfg.Engine.SlideSet(c.Request.Context(), c.Param("conf"), c.Param("set"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, viewSet(r.location(c), set))
}

func wantsXML(c *gin.Context) bool {
	return c.NegotiateFormat(gin.MIMEJSON, gin.MIMEXML, "text/xml") != gin.MIMEJSON && c.GetHeader("Accept") != ""
}

func (r *routes) getSlideSetXML(c *gin.Context) {
	data, err := r.cfg.Engine.SlideSetXML(c.Request.Context(), c.Param("conf"), c.Param("set"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	noStore(c)
	c.Data(http.StatusOK, "application/xml; charset=utf-8", data)
}

// readXML reads an XML body. Its size is capped at MaxXMLBody by xmlBodyLimit, which
// every route calling readXML has in its chain.
func (r *routes) readXML(c *gin.Context) ([]byte, error) {
	if !isXMLBody(c) {
		return nil, httpapi.Errorf(httpapi.CodeUnsupportedMedia, "Content-Type must be application/xml")
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return nil, err
	}
	return body, nil
}

func (r *routes) replaceSlideSetXML(c *gin.Context) {
	body, err := r.readXML(c)
	if err == nil {
		var set *metadata.SlideSet
		set, err = r.cfg.Engine.ReplaceSlideSetXML(c.Request.Context(), c.Param("conf"), c.Param("set"), body)
		if err == nil {
			noStore(c)
			c.JSON(http.StatusOK, viewSet(r.location(c), set))
			return
		}
	}
	httpapi.Fail(c, err)
}

// update runs a mutation and answers with the whole set.
func (r *routes) update(c *gin.Context, status int, mutate func(*metadata.SlideSet) error) *metadata.SlideSet {
	set, err := r.cfg.Engine.UpdateSlideSet(c.Request.Context(), c.Param("conf"), c.Param("set"), mutate)
	if err != nil {
		httpapi.Fail(c, err)
		return nil
	}
	if status != 0 {
		noStore(c)
		c.JSON(status, viewSet(r.location(c), set))
	}
	return set
}

// RenameRequest is the body of PATCH …/slidesets/:set.
type RenameRequest struct {
	Name string `json:"name"`
}

func (r *routes) renameSlideSet(c *gin.Context) {
	var req RenameRequest
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Fail(c, err)
		return
	}
	if len(req.Name) > maxTextField { // the same bound as createSlideSet
		httpapi.Fail(c, httpapi.Errorf(httpapi.CodeBadRequest, "name is too long"))
		return
	}
	r.update(c, http.StatusOK, func(s *metadata.SlideSet) error { s.Name = req.Name; return nil })
}

func (r *routes) deleteSlideSet(c *gin.Context) {
	if err := r.cfg.Engine.DeleteSlideSet(c.Request.Context(), c.Param("conf"), c.Param("set")); err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// OrderRequest is the body of PUT …/order: every slide id, in the new order.
type OrderRequest struct {
	Slides []string `json:"slides"`
}

func (r *routes) reorderSlides(c *gin.Context) {
	var req OrderRequest
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Fail(c, err)
		return
	}
	// Ids in the body are held to their form like those in the path (checkSlideID),
	// before the set is read: a malformed one is the client's mistake (400), only a
	// well-formed one the set lacks is 404. The message gives the position, not the
	// id, which may be anything up to the body cap.
	for i, id := range req.Slides {
		if !slideIDPattern.MatchString(id) {
			httpapi.Fail(c, httpapi.Errorf(httpapi.CodeInvalidID, "slides[%d] is not a slide id (a positive decimal number)", i))
			return
		}
	}
	r.update(c, http.StatusOK, func(s *metadata.SlideSet) error {
		if len(req.Slides) != len(s.Slides) {
			return fmt.Errorf("%w: the order must list all %d slides exactly once", conference.ErrInvalidInput, len(s.Slides))
		}
		seen := map[string]bool{}
		for i, id := range req.Slides {
			if seen[id] {
				return fmt.Errorf("%w: slide %q listed twice", conference.ErrInvalidInput, id)
			}
			seen[id] = true
			if s.Index(id) < 0 {
				return httpapi.Errorf(httpapi.CodeNotFound, "the set has no slide %s", id)
			}
			if err := s.Move(id, i); err != nil {
				return err
			}
		}
		return nil
	})
}

// slideFromBody reads a slide from JSON (SlideInput) or XML (one slide element).
func (r *routes) slideFromBody(c *gin.Context) (metadata.Slide, error) {
	if isXMLBody(c) {
		body, err := r.readXML(c)
		if err != nil {
			return nil, err
		}
		sl, err := metadata.ParseSlide(bytesReader(body))
		if err != nil {
			return nil, err
		}
		return sl, nil
	}
	var in SlideInput
	if err := httpapi.DecodeJSON(c, &in); err != nil {
		return nil, err
	}
	sl, err := in.slide()
	if err != nil {
		return nil, httpapi.Errorf(httpapi.CodeBadRequest, "%s", err.Error())
	}
	return sl, nil
}

func (r *routes) addSlide(c *gin.Context) {
	sl, err := r.slideFromBody(c)
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	pos := -1
	if p := c.Query("position"); p != "" {
		if pos, err = strconv.Atoi(p); err != nil || pos < 0 {
			httpapi.Fail(c, httpapi.Errorf(httpapi.CodeBadRequest, "position must be a non-negative integer"))
			return
		}
	}
	var id string
	set := r.update(c, 0, func(s *metadata.SlideSet) error {
		at := len(s.Slides)
		if pos >= 0 {
			at = pos
		}
		var err error
		id, err = s.Insert(at, sl)
		return err
	})
	if set == nil {
		return
	}
	added, _ := set.Slide(id)
	c.Header("Location", c.Request.URL.Path+"/"+id)
	noStore(c)
	c.JSON(http.StatusCreated, viewSlide(r.location(c), added))
}

// slideIDPattern is the form of a slide id: a positive decimal of at most 18 digits,
// as package metadata assigns and accepts them (its own pattern is unexported; a
// test pins the two together through the routes).
var slideIDPattern = regexp.MustCompile(`^[1-9][0-9]{0,17}$`)

// checkSlideID refuses a path slide id that is not of the form slide ids have with
// 400 invalid_id, as for every other path id, before any lookup: such an id can name
// no slide, and the lookup's 404 would carry the metadata package's wording.
func checkSlideID(c *gin.Context) {
	if !slideIDPattern.MatchString(c.Param("slide")) {
		httpapi.Fail(c, httpapi.Errorf(httpapi.CodeInvalidID, "slide id must be a positive decimal number"))
	}
}

func (r *routes) getSlide(c *gin.Context) {
	set, err := r.cfg.Engine.SlideSet(c.Request.Context(), c.Param("conf"), c.Param("set"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	sl, err := set.Slide(c.Param("slide"))
	if err != nil {
		httpapi.Fail(c, fmt.Errorf("%w: %w", conference.ErrNotFound, err))
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, viewSlide(r.location(c), sl))
}

func (r *routes) replaceSlide(c *gin.Context) {
	sl, err := r.slideFromBody(c)
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	id := c.Param("slide")
	set := r.update(c, 0, func(s *metadata.SlideSet) error {
		i := s.Index(id)
		if i < 0 {
			return fmt.Errorf("%w: slide %q", conference.ErrNotFound, id)
		}
		sl.Base().ID = id
		s.Slides[i] = sl
		return nil
	})
	if set != nil {
		got, _ := set.Slide(id)
		noStore(c)
		c.JSON(http.StatusOK, viewSlide(r.location(c), got))
	}
}

func (r *routes) deleteSlide(c *gin.Context) {
	if r.update(c, 0, func(s *metadata.SlideSet) error { _, err := s.Remove(c.Param("slide")); return err }) != nil {
		c.Status(http.StatusNoContent)
	}
}

// MoveRequest is the body of POST …/slides/:slide/move.
type MoveRequest struct {
	Position int `json:"position"`
}

func (r *routes) moveSlide(c *gin.Context) {
	var req MoveRequest
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Fail(c, err)
		return
	}
	r.update(c, http.StatusOK, func(s *metadata.SlideSet) error { return s.Move(c.Param("slide"), req.Position) })
}

func (r *routes) annotate(c *gin.Context) {
	var req AnnotationInput
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Fail(c, err)
		return
	}
	ann, err := req.annotation()
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	if ann.Author == "" {
		ann.Author = subject(c)
	}
	// Below presenter, a token that names its holder annotates as that holder: an
	// attendee must not put words in a presenter's (or another attendee's) name.
	// Presenters and organizers curate the set, and may carry annotations over.
	if cl := httpapi.ClaimsOf(c); cl != nil && cl.Subject != "" && ann.Author != cl.Subject && !cl.Allows(httpapi.RolePresenter, c.Param("conf")) {
		httpapi.Fail(c, httpapi.Errorf(httpapi.CodeForbidden, "an attendee annotates in its own name: author must be empty or the token's subject"))
		return
	}
	id := c.Param("slide")
	set := r.update(c, 0, func(s *metadata.SlideSet) error {
		if sl, err := s.Slide(id); err == nil {
			if img, ok := sl.(*metadata.ImageSlide); ok && len(img.Annotations) >= MaxAnnotationsPerSlide {
				return fmt.Errorf("%w: slide %s already has %d annotations, the limit", conference.ErrLimit, id, len(img.Annotations))
			}
		}
		if total := annotationData(s) + len(ann.Data); total > MaxAnnotationDataPerSet {
			return fmt.Errorf("%w: the slide set's annotations would hold %d bytes, over the limit of %d", conference.ErrLimit, total, MaxAnnotationDataPerSet)
		}
		return s.AppendAnnotation(id, ann)
	})
	if set != nil {
		sl, _ := set.Slide(c.Param("slide"))
		noStore(c)
		c.JSON(http.StatusCreated, viewSlide(r.location(c), sl))
	}
}

// annotationData is the data of all annotations of the set, in bytes.
func annotationData(s *metadata.SlideSet) int {
	n := 0
	for _, sl := range s.Slides {
		if img, ok := sl.(*metadata.ImageSlide); ok {
			for _, a := range img.Annotations {
				n += len(a.Data)
			}
		}
	}
	return n
}
