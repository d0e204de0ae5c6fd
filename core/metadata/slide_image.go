package metadata

import (
	"encoding/hex"
	"encoding/xml"
	"strings"
)

// rich-slide-type values of the seeds. PowerPoint slides carry no rich-slide-type
// at all (the seeds' table lists PowerPoint as a plain image-slide), so Lectern
// writes none for them.
const (
	RichWhiteboard = "Whiteboard"
	RichSnapshot   = "Image"
	RichWord       = "Modi"
	RichPowerPoint = ""
)

// ImageSlide is <image-slide>: whiteboard, snapshot, PowerPoint and Word document
// slides, told apart by RichSlideType. Integer attributes are optional: zero is not
// written (a zero read from a document is kept verbatim, see attrReader).
type ImageSlide struct {
	SlideBase
	SlideSetName  string // slideset-name: the deck/document the page came from
	RichSlideType string // rich-slide-type: RichWhiteboard, RichSnapshot, RichWord, or "" (PowerPoint)

	Image         ContentRef // image + key: the large PNG (absent for a blank whiteboard)
	ImageFileSize int64      // image-filesize-attr
	ImageWidth    int64      // image-width-attr
	ImageHeight   int64      // image-height-attr

	Document         ContentRef // document + document-key: the original deck or document
	DocumentFileSize int64      // document-filesize-attr
	PageNumber       int64      // page-number (-1 when not a page of a document)

	Thumbnail         ContentRef // thumbnail-image + thumbnail-key
	ThumbnailAspect   string     // thumbnail-aspect, a decimal kept as written ("1.33333337")
	ThumbnailFileSize int64      // thumbnail-filesize-attr

	ComplianceImage    string // compliance-image: name of the plain copy under the compliance root
	ComplianceDocument string // compliance-document

	Annotations []Annotation // <ann> children, in order
}

// Kind derives the kind from RichSlideType.
func (s *ImageSlide) Kind() Kind {
	switch s.RichSlideType {
	case RichWhiteboard:
		return KindWhiteboard
	case RichSnapshot:
		return KindSnapshot
	case RichWord:
		return KindWord
	case RichPowerPoint:
		return KindPowerPoint
	}
	return KindImageOther
}

func (*ImageSlide) element() string          { return "image-slide" }
func (*ImageSlide) knownChild(el *elem) bool { return el.is("ann") }

// ContentRefs lists image, thumbnail and document, in that order.
func (s *ImageSlide) ContentRefs() []ContentRef {
	return nonZero(s.Image, s.Thumbnail, s.Document)
}

func nonZero(refs ...ContentRef) []ContentRef {
	var out []ContentRef
	for _, r := range refs {
		if !r.IsZero() {
			out = append(out, r)
		}
	}
	return out
}

func (s *ImageSlide) decode(el *elem, a *attrReader, kids []*elem) error {
	s.SlideSetName = a.optStr("slideset-name")
	s.Image = a.ref("image", "key", slideContent)
	s.ImageFileSize = a.optInt("image-filesize-attr")
	s.ImageWidth = a.optInt("image-width-attr")
	s.ImageHeight = a.optInt("image-height-attr")
	s.Document = a.ref("document", "document-key", slideContent)
	s.DocumentFileSize = a.optInt("document-filesize-attr")
	s.PageNumber = a.optInt("page-number")
	s.RichSlideType = a.optStr("rich-slide-type")
	s.Thumbnail = a.ref("thumbnail-image", "thumbnail-key", slideContent)
	s.ThumbnailAspect = a.optDecimal("thumbnail-aspect")
	s.ThumbnailFileSize = a.optInt("thumbnail-filesize-attr")
	s.ComplianceImage = a.optStr("compliance-image")
	s.ComplianceDocument = a.optStr("compliance-document")
	for _, k := range kids {
		ann, err := decodeAnnotation(k)
		if err != nil {
			return err
		}
		s.Annotations = append(s.Annotations, ann)
	}
	return nil
}

func (s *ImageSlide) encode(w *writer, depth int) {
	aw := s.headAttrs(s.element())
	aw.optStr("slideset-name", s.SlideSetName)
	s.identity(aw)
	aw.ref("image", "key", slideContent, s.Image)
	aw.optInt("image-filesize-attr", s.ImageFileSize)
	aw.optInt("image-width-attr", s.ImageWidth)
	aw.optInt("image-height-attr", s.ImageHeight)
	aw.ref("document", "document-key", slideContent, s.Document)
	aw.optInt("document-filesize-attr", s.DocumentFileSize)
	aw.optInt("page-number", s.PageNumber)
	aw.optStr("rich-slide-type", s.RichSlideType)
	aw.ref("thumbnail-image", "thumbnail-key", slideContent, s.Thumbnail)
	aw.optDecimal("thumbnail-aspect", s.ThumbnailAspect)
	aw.optInt("thumbnail-filesize-attr", s.ThumbnailFileSize)
	aw.optStr("compliance-image", s.ComplianceImage)
	aw.optStr("compliance-document", s.ComplianceDocument)
	var body func(int, *extraCursor)
	if len(s.Annotations) > 0 {
		body = func(d int, extra *extraCursor) {
			for i, a := range s.Annotations {
				extra.before(i + 1)
				a.encode(w, d)
			}
		}
	}
	writeSlide(w, depth, &s.SlideBase, aw, body)
}

// Annotation is <ann COLOR AUTHOR TYPE recording-id>hex</ann>: one ink stroke or
// shape, as binary data the clients understand. In the document the data is hex;
// in the model it is the decoded bytes.
type Annotation struct {
	Color       int64  // COLOR (a Windows COLORREF in the original)
	Author      string // AUTHOR
	Type        int64  // TYPE
	RecordingID string // recording-id
	Data        []byte // the decoded hex content
	Extra       []xml.Attr
}

func decodeAnnotation(el *elem) (Annotation, error) {
	a := newAttrReader(el)
	ann := Annotation{
		Color:       a.int("COLOR"),
		Author:      a.str("AUTHOR"),
		Type:        a.int("TYPE"),
		RecordingID: a.str("recording-id"),
	}
	if a.err != nil {
		return Annotation{}, a.err
	}
	ann.Extra = a.extras()
	text, err := textContent(el)
	if err != nil {
		return Annotation{}, err
	}
	data, err := decodeAnnHex(text)
	if err != nil {
		return Annotation{}, invalidf(el, "", "%v", err)
	}
	ann.Data = data
	return ann, nil
}

type annHexError string

func (e annHexError) Error() string { return string(e) }

// decodeAnnHex trims the whitespace around the data (the seeds indent it) and
// decodes it. Whitespace inside the data, an odd length or a non-hex digit is
// refused: the stroke data would be wrong, and guessing is worse than saying so.
func decodeAnnHex(text string) ([]byte, error) {
	t := strings.TrimSpace(text)
	if len(t)%2 != 0 {
		return nil, annHexError("annotation data has an odd number of hex digits")
	}
	if t == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(t)
	if err != nil {
		return nil, annHexError("annotation data is not hex")
	}
	return b, nil
}

func (a Annotation) encode(w *writer, depth int) {
	aw := &attrWriter{elem: "ann"}
	aw.int("COLOR", a.Color)
	aw.add("AUTHOR", a.Author)
	aw.int("TYPE", a.Type)
	aw.add("recording-id", a.RecordingID)
	aw.extras(a.Extra)
	if aw.err != nil {
		w.fail(aw.err)
		return
	}
	w.textElem(depth, "ann", aw.attrs, hex.EncodeToString(a.Data))
}
