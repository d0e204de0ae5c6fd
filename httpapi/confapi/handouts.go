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
	noStore(c)
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
	noStore(c)
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
	noStore(c)
	c.JSON(http.StatusOK, viewHandout(r.location(c), fs))
}

func (r *routes) deleteHandout(c *gin.Context) {
	fs, err := r.cfg.Engine.DeleteHandout(c.Request.Context(), c.Param("conf"), c.Param("handout"))
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, viewHandout(r.location(c), fs))
}

// parseRange reads the Range header of the decrypting route. It serves one range,
// "bytes=a-b" or "bytes=a-": it needs the offset before it learns the size. A suffix
// range ("bytes=-n") or several ranges are ignored, and the whole content sent (200),
// as RFC 9110 §14.2 lets a server do; a range that does not parse is 416, as on the
// ciphertext route. Empty list elements ("bytes=0-9, ,") do not count. Without a
// header the whole content is meant.
func parseRange(h string) (off, n int64, partial bool, err error) {
	whole := func() (int64, int64, bool, error) { return 0, -1, false, nil }
	if h == "" {
		return whole()
	}
	bad := httpapi.Errorf(httpapi.CodeRangeNotSatisfiable, "the Range header does not parse (bytes=first-[last])")
	specs, ok := httpapi.RangeSpecs(h)
	if !ok {
		return 0, 0, false, bad
	}
	type span struct{ first, last int64 } // last -1: to the end
	var spans []span
	suffix := false
	for _, spec := range specs {
		a, b, found := strings.Cut(spec, "-")
		if !found {
			return 0, 0, false, bad
		}
		if a == "" { // a suffix: its length must parse, though it is not served
			if _, err := strconv.ParseUint(b, 10, 64); err != nil {
				return 0, 0, false, bad
			}
			suffix = true
			continue
		}
		first, err := strconv.ParseInt(a, 10, 64)
		if err != nil || first < 0 {
			return 0, 0, false, bad
		}
		last := int64(-1)
		if b != "" {
			if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
				return 0, 0, false, bad
			}
		}
		spans = append(spans, span{first, last})
	}
	if suffix || len(spans) != 1 {
		return whole()
	}
	sp := spans[0]
	if sp.last < 0 || sp.last == math.MaxInt64 {
		// "a-", or a last byte so far past the end that the length would overflow.
		return sp.first, -1, true, nil
	}
	return sp.first, sp.last - sp.first + 1, true, nil
}
