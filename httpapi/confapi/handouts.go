package confapi

import (
	"bytes"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/httpapi"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// HandoutView is the JSON form of a handout (a fileset).
type HandoutView struct {
	ID         string    `json:"id"`
	Filename   string    `json:"filename"`
	Size       int64     `json:"size"`
	Name       string    `json:"name,omitempty"`
	Key        string    `json:"key,omitempty"`
	URL        string    `json:"url,omitempty"`
	Uploaded   time.Time `json:"uploaded"`
	UploadedBy string    `json:"uploaded_by,omitempty"`
	Deleted    bool      `json:"deleted"`
	XML        string    `json:"xml,omitempty"` // absent for a deleted handout
}

func viewHandout(loc layout.Conference, fs *metadata.FileSet) HandoutView {
	v := HandoutView{ID: fs.ID, Filename: fs.OriginalFilename, Size: fs.Size, Uploaded: fs.Uploaded,
		UploadedBy: fs.UploadedBy, Deleted: fs.Deleted}
	if !fs.Deleted {
		v.Name, v.Key, v.URL = fs.Blob.Name, fs.Blob.Key, loc.ContentURLPath(fs.Blob.Name)
	}
	// A deleted handout's record keeps its key (as the original's did), but the reply
	// does not show it: the blob is gone and the key has no business there. So its
	// XML, which must hold the key, is left out.
	if !fs.Deleted {
		if data, err := fs.Marshal(); err == nil {
			v.XML = string(data)
		}
	}
	return v
}

func (r *routes) listHandouts(c *gin.Context) {
	list, err := r.cfg.Engine.ListHandouts(c.Request.Context(), c.Param("conf"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	loc := r.location(c)
	out := make([]HandoutView, 0, len(list))
	for _, fs := range list {
		out = append(out, viewHandout(loc, fs))
	}
	c.JSON(http.StatusOK, gin.H{"handouts": out})
}

// AddHandoutRequest is the body of POST …/handouts: a blob stored by an upload.
type AddHandoutRequest struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Size     int64  `json:"size"`
	Filename string `json:"filename"`
}

func (r *routes) addHandout(c *gin.Context) {
	var req AddHandoutRequest
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Fail(c, err)
		return
	}
	fs, err := r.cfg.Engine.AddHandout(c.Request.Context(), c.Param("conf"), conference.HandoutParams{
		Blob: metadata.ContentRef{Name: req.Name, Key: req.Key}, Size: req.Size, OriginalFilename: req.Filename, UploadedBy: subject(c)})
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+fs.ID)
	c.JSON(http.StatusCreated, viewHandout(r.location(c), fs))
}

// checkHandoutID refuses a malformed handout id with a message of its own: handout
// ids have the form of slide set ids, and the engine's check names slide sets.
func checkHandoutID(c *gin.Context) {
	if err := layout.ValidateSetID(c.Param("handout")); err != nil {
		httpapi.Fail(c, &httpapi.Error{Code: httpapi.CodeInvalidID, Message: "handout id must be 3-12 lowercase letters", Err: err})
	}
}

func (r *routes) getHandout(c *gin.Context) {
	fs, err := r.cfg.Engine.Handout(c.Request.Context(), c.Param("conf"), c.Param("handout"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewHandout(r.location(c), fs))
}

func (r *routes) deleteHandout(c *gin.Context) {
	fs, err := r.cfg.Engine.DeleteHandout(c.Request.Context(), c.Param("conf"), c.Param("handout"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewHandout(r.location(c), fs))
}

// parseRange parses a single "bytes=a-b" or "bytes=a-" range (a suffix "bytes=-n" is
// refused: the decrypting route needs the offset before it learns the size). Without
// a header the whole file is meant.
func parseRange(h string) (off, n int64, partial bool, err error) {
	if h == "" {
		return 0, -1, false, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	bad := httpapi.Errorf(httpapi.CodeRangeNotSatisfiable, "only one range of the form bytes=first-[last] is supported here")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false, bad
	}
	first, last, _ := strings.Cut(spec, "-")
	off, err = strconv.ParseInt(first, 10, 64)
	if err != nil || off < 0 {
		return 0, 0, false, bad
	}
	if last == "" {
		return off, -1, true, nil
	}
	end, err := strconv.ParseInt(last, 10, 64)
	if err != nil || end < off {
		return 0, 0, false, bad
	}
	if end == math.MaxInt64 {
		// The length would overflow; a last byte past the end means "to the end".
		return off, -1, true, nil
	}
	return off, end - off + 1, true, nil
}
