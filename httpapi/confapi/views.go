package confapi

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/httpapi"
)

// noStore marks an answer that carries content keys (a slide set, a slide, its XML,
// a handout, the handout list): no cache between client and server may keep it, as
// for the upload result and the decrypted content. A new, still empty set is marked
// too: it is the same kind of answer.
func noStore(c *gin.Context) { c.Header("Cache-Control", "no-store") }

// SlideSetView is the JSON form of a slide set.
type SlideSetView struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	CreatedBy string      `json:"created_by,omitempty"`
	Created   time.Time   `json:"created,omitzero"`
	Modified  time.Time   `json:"modified,omitzero"`
	Slides    []SlideView `json:"slides"`
}

// SlideSetSummary is a slide set in a listing.
type SlideSetSummary struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedBy string    `json:"created_by,omitempty"`
	Modified  time.Time `json:"modified,omitzero"`
	Slides    int       `json:"slides"`
}

// ContentView is one content file a slide references: its role in the slide, its
// name, its download URL and its key.
type ContentView struct {
	Role string `json:"role"` // image, thumbnail, document, media, chunk
	Name string `json:"name"`
	Key  string `json:"key"`
	URL  string `json:"url"`
	Size int64  `json:"size,omitempty"`
}

// AnnotationView is an annotation with its stroke data in hex.
type AnnotationView struct {
	Color       int64  `json:"color"`
	Author      string `json:"author"`
	Type        int64  `json:"type"`
	RecordingID string `json:"recording_id,omitempty"`
	Data        string `json:"data"`
}

// SlideView is the JSON form of a slide. Kind-specific fields are present only for
// their kind; XML is the slide's element as stored, unknown attributes included.
type SlideView struct {
	ID          string           `json:"id"`
	Kind        string           `json:"kind"`
	Name        string           `json:"name"`
	CreatedBy   string           `json:"created_by,omitempty"`
	URL         string           `json:"url,omitempty"`
	Question    string           `json:"question,omitempty"`
	Choices     []string         `json:"choices,omitempty"`
	Text        string           `json:"text,omitempty"`
	ShareTitle  string           `json:"share_title,omitempty"`
	ShareType   int64            `json:"share_type,omitempty"`
	Page        int64            `json:"page,omitempty"`
	MediaType   string           `json:"media_type,omitempty"`
	Filename    string           `json:"filename,omitempty"`
	Content     []ContentView    `json:"content,omitempty"`
	Annotations []AnnotationView `json:"annotations,omitempty"`
	XML         string           `json:"xml"`
}

// kindNames are the JSON names of the slide kinds.
var kindNames = map[metadata.Kind]string{
	metadata.KindWeb: "web", metadata.KindPoll: "poll", metadata.KindText: "text", metadata.KindDemo: "app-sharing",
	metadata.KindWhiteboard: "whiteboard", metadata.KindSnapshot: "snapshot", metadata.KindPowerPoint: "powerpoint",
	metadata.KindWord: "word", metadata.KindMedia: "multimedia", metadata.KindImageOther: "image", metadata.KindUnknown: "unknown",
}

func viewSet(loc layout.Conference, s *metadata.SlideSet) SlideSetView {
	v := SlideSetView{ID: s.ID, Name: s.Name, CreatedBy: s.CreatedBy, Created: s.Created, Modified: s.Modified, Slides: []SlideView{}}
	for _, sl := range s.Slides {
		v.Slides = append(v.Slides, viewSlide(loc, sl))
	}
	return v
}

func summarize(s *metadata.SlideSet) SlideSetSummary {
	return SlideSetSummary{ID: s.ID, Name: s.Name, CreatedBy: s.CreatedBy, Modified: s.Modified, Slides: len(s.Slides)}
}

func viewSlide(loc layout.Conference, sl metadata.Slide) SlideView {
	b := sl.Base()
	v := SlideView{ID: b.ID, Kind: kindNames[sl.Kind()], Name: b.Name, CreatedBy: b.CreatedBy}
	ref := func(role string, r metadata.ContentRef, size int64) {
		if !r.IsZero() {
			v.Content = append(v.Content, ContentView{Role: role, Name: r.Name, Key: r.Key, URL: loc.ContentURLPath(r.Name), Size: size})
		}
	}
	switch s := sl.(type) {
	case *metadata.WebSlide:
		v.URL = s.URL
	case *metadata.PollSlide:
		v.Question = s.Question
		for _, c := range s.Choices {
			v.Choices = append(v.Choices, c.Text)
		}
	case *metadata.TextSlide:
		v.Text = s.CurrentText
	case *metadata.DemoSlide:
		v.ShareTitle, v.ShareType = s.ShareTitle, s.ShareType
	case *metadata.ImageSlide:
		v.Page = s.PageNumber
		ref("image", s.Image, s.ImageFileSize)
		ref("thumbnail", s.Thumbnail, s.ThumbnailFileSize)
		ref("document", s.Document, s.DocumentFileSize)
		for _, a := range s.Annotations {
			v.Annotations = append(v.Annotations, AnnotationView{Color: a.Color, Author: a.Author, Type: a.Type,
				RecordingID: a.RecordingID, Data: hex.EncodeToString(a.Data)})
		}
	case *metadata.MediaSlide:
		v.MediaType, v.Filename = s.MediaType, s.OriginalFilename
		ref("media", s.Media, s.MediaFileSize)
		for _, ch := range s.Chunks {
			ref("chunk", ch.Ref, ch.Size)
		}
	}
	var buf bytes.Buffer
	if err := metadata.EncodeSlide(&buf, sl); err == nil {
		v.XML = buf.String()
	}
	return v
}

// RefInput names stored content in a request.
type RefInput struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	Size int64  `json:"size,omitempty"`
}

func (r *RefInput) ref() metadata.ContentRef {
	if r == nil {
		return metadata.ContentRef{}
	}
	return metadata.ContentRef{Name: r.Name, Key: r.Key}
}

func (r *RefInput) size() int64 {
	if r == nil {
		return 0
	}
	return r.Size
}

// SlideInput is the JSON body that creates or replaces a slide.
type SlideInput struct {
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	CreatedBy  string     `json:"created_by"`
	URL        string     `json:"url"`
	Question   string     `json:"question"`
	Choices    []string   `json:"choices"`
	Text       string     `json:"text"`
	ShareTitle string     `json:"share_title"`
	ShareType  int64      `json:"share_type"`
	Width      int64      `json:"width"`
	Height     int64      `json:"height"`
	Page       int64      `json:"page"`
	DeckName   string     `json:"deck_name"`
	Image      *RefInput  `json:"image"`
	Thumbnail  *RefInput  `json:"thumbnail"`
	Document   *RefInput  `json:"document"`
	Media      *RefInput  `json:"media"`
	MediaType  string     `json:"media_type"`
	Filename   string     `json:"filename"`
	Chunks     []RefInput `json:"chunks"`
}

const maxTextField = 64 << 10

func (in SlideInput) slide() (metadata.Slide, error) {
	for _, f := range []string{in.Name, in.CreatedBy, in.URL, in.Question, in.Text, in.ShareTitle, in.DeckName, in.MediaType, in.Filename} {
		if len(f) > maxTextField {
			return nil, fmt.Errorf("a text field is longer than %d bytes", maxTextField)
		}
	}
	base := metadata.SlideBase{Name: in.Name, CreatedBy: in.CreatedBy}
	image := func(rich string) *metadata.ImageSlide {
		return &metadata.ImageSlide{SlideBase: base, RichSlideType: rich, SlideSetName: in.DeckName,
			Image: in.Image.ref(), ImageFileSize: in.Image.size(), ImageWidth: in.Width, ImageHeight: in.Height,
			Thumbnail: in.Thumbnail.ref(), ThumbnailFileSize: in.Thumbnail.size(),
			Document: in.Document.ref(), DocumentFileSize: in.Document.size(), PageNumber: in.Page}
	}
	switch strings.ToLower(in.Kind) {
	case "web":
		if in.URL == "" {
			return nil, fmt.Errorf("a web slide needs a url")
		}
		return &metadata.WebSlide{SlideBase: base, URL: in.URL}, nil
	case "poll":
		p := &metadata.PollSlide{SlideBase: base, Question: in.Question}
		for _, c := range in.Choices {
			p.Choices = append(p.Choices, metadata.Choice{Text: c})
		}
		return p, nil
	case "text":
		return &metadata.TextSlide{SlideBase: base, CurrentText: in.Text}, nil
	case "app-sharing":
		return &metadata.DemoSlide{SlideBase: base, ShareTitle: in.ShareTitle, ShareType: in.ShareType}, nil
	case "whiteboard":
		wb := image(metadata.RichWhiteboard)
		if in.Page == 0 {
			wb.PageNumber = -1
		}
		return wb, nil
	case "snapshot":
		s := image(metadata.RichSnapshot)
		if in.Page == 0 {
			s.PageNumber = -1
		}
		return s, nil
	case "powerpoint":
		return image(metadata.RichPowerPoint), nil
	case "word":
		return image(metadata.RichWord), nil
	case "multimedia":
		m := &metadata.MediaSlide{SlideBase: base, Media: in.Media.ref(), MediaFileSize: in.Media.size(),
			MediaType: in.MediaType, OriginalFilename: in.Filename}
		for i := range in.Chunks {
			m.Chunks = append(m.Chunks, metadata.Chunk{Ref: in.Chunks[i].ref(), Size: in.Chunks[i].Size})
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown slide kind %q (want web, poll, text, app-sharing, whiteboard, snapshot, powerpoint, word or multimedia)", in.Kind)
}

// AnnotationInput is the JSON body that appends an annotation.
type AnnotationInput struct {
	Color       int64  `json:"color"`
	Author      string `json:"author"`
	Type        int64  `json:"type"`
	RecordingID string `json:"recording_id"`
	Data        string `json:"data"` // hex
}

// Annotation limits. Any participant, attendees included, may annotate, so what one
// may add to a presenter's slide set is bounded: an ink stroke is a few KiB, and the
// slide set (a metadata document of at most 16 MiB, where the data is hex) must keep
// room for its slides.
const (
	// MaxAnnotationData bounds the data of one annotation (decoded bytes).
	MaxAnnotationData = 64 << 10
	// MaxAnnotationsPerSlide bounds the annotations of one slide.
	MaxAnnotationsPerSlide = 256
	// MaxAnnotationDataPerSet bounds the data of all annotations of one slide set
	// (decoded bytes; twice that as hex): a quarter of the 16 MiB document, so that
	// annotations, which anyone may add, never crowd out the presenter's slides.
	MaxAnnotationDataPerSet = 4 << 20
)

// annotation checks the input; its errors are the client's to see (*httpapi.Error).
func (in AnnotationInput) annotation() (metadata.Annotation, error) {
	text := strings.TrimSpace(in.Data)
	if len(text) > 2*MaxAnnotationData {
		return metadata.Annotation{}, httpapi.Errorf(httpapi.CodeTooLarge, "annotation data is over the limit of %d bytes", MaxAnnotationData)
	}
	data, err := hex.DecodeString(text)
	if err != nil {
		return metadata.Annotation{}, httpapi.Errorf(httpapi.CodeBadRequest, "annotation data must be hex")
	}
	return metadata.Annotation{Color: in.Color, Author: in.Author, Type: in.Type, RecordingID: in.RecordingID, Data: data}, nil
}
