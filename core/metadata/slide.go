package metadata

import (
	"encoding/xml"
	"io"
	"regexp"
)

// Kind is the kind of a slide.
type Kind uint8

// Slide kinds (SPEC §1). The four image-slide kinds share one element and differ
// by rich-slide-type.
const (
	KindUnknown    Kind = iota // an element this package does not know, preserved whole
	KindWeb                    // <web-slide>
	KindPoll                   // <poll-slide>
	KindText                   // <text-slide>
	KindDemo                   // <demo-slide>: application sharing
	KindWhiteboard             // <image-slide rich-slide-type="Whiteboard">
	KindSnapshot               // <image-slide rich-slide-type="Image">
	KindPowerPoint             // <image-slide> without rich-slide-type
	KindWord                   // <image-slide rich-slide-type="Modi">
	KindImageOther             // <image-slide> with a rich-slide-type this package does not know
	KindMedia                  // <media-slide>: multimedia (Lectern's definition)
)

var kindNames = [...]string{"unknown", "web", "poll", "text", "application-sharing",
	"whiteboard", "snapshot", "powerpoint", "word", "image", "multimedia"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// Slide is one slide of a set. The concrete types are *WebSlide, *PollSlide,
// *TextSlide, *DemoSlide, *ImageSlide, *MediaSlide and *UnknownSlide; the interface
// is closed (its unexported methods keep other packages from adding kinds that the
// encoder would not know).
type Slide interface {
	// Kind reports the slide's kind.
	Kind() Kind
	// Base returns the attributes every slide has, for reading and writing.
	Base() *SlideBase
	// ContentRefs lists the content files the slide references (name + key), in a
	// fixed order, without zero references. The engine uses it for fsck, orphan
	// collection and retention.
	ContentRefs() []ContentRef

	element() string
	knownChild(el *elem) bool
	decode(el *elem, a *attrReader, kids []*elem) error
	encode(w *writer, depth int)
}

// SlideBase holds what every slide element carries, and what this package keeps
// without understanding it.
type SlideBase struct {
	// ID is the slide's stable id inside its set (attribute slide-id, a Lectern
	// addition): decimal, assigned by SlideSet from its counter, never reused.
	ID          string
	Name        string // name
	RecordingID string // recording-id
	CreatedBy   string // createdby: "<sip uri> [<alias>]" in the seeds

	// Extra holds the attributes found on load that the model does not know, in
	// document order; they are written back after the known ones.
	Extra []xml.Attr
	// ExtraChildren holds child elements (and comments) the model does not know, in
	// document order; each is written back at its place among the known children
	// (Node.Anchor), or after them.
	ExtraChildren []Node
}

// Base returns b itself; it makes every slide type satisfy Slide.Base.
func (b *SlideBase) Base() *SlideBase { return b }

const attrSlideID = "slide-id"

var slideIDPattern = regexp.MustCompile(`^[1-9][0-9]{0,17}$`)

// decodeBase reads the common attributes. slide-id is optional on load (the seeds
// have none); SlideSet assigns missing ones.
func (b *SlideBase) decodeBase(a *attrReader, optional bool) {
	if optional {
		b.Name, b.RecordingID, b.CreatedBy = a.optStr("name"), a.optStr("recording-id"), a.optStr("createdby")
	} else {
		b.Name, b.RecordingID, b.CreatedBy = a.str("name"), a.str("recording-id"), a.str("createdby")
	}
	if a.has(attrSlideID) {
		id := a.str(attrSlideID)
		if !slideIDPattern.MatchString(id) {
			a.fail(attrSlideID, "slide id is not a positive decimal number")
		}
		b.ID = id
	}
}

// headAttrs starts the attribute list of a slide element with name; the kind then
// adds what the seeds put next to it (slideset-name), calls identity for
// recording-id and createdby, and adds its own attributes.
func (b *SlideBase) headAttrs(elem string) *attrWriter {
	w := &attrWriter{elem: elem}
	w.add("name", b.Name)
	return w
}

// tailAttrs finishes the list: slide-id, then the preserved extras.
func (b *SlideBase) tailAttrs(w *attrWriter) {
	if b.ID != "" {
		if !slideIDPattern.MatchString(b.ID) && w.err == nil {
			w.err = encodeErr(w.elem, attrSlideID, "slide id is not a positive decimal number")
		}
		w.add(attrSlideID, b.ID)
	}
	w.extras(b.Extra)
}

// identity writes recording-id and createdby (after the kind's name-adjacent
// attributes, as the seeds order them).
func (b *SlideBase) identity(w *attrWriter) {
	w.add("recording-id", b.RecordingID)
	w.add("createdby", b.CreatedBy)
}

// writeSlide writes a slide element with known children produced by body, which
// calls extra.before(k) before writing its k-th known child (1-based).
func writeSlide(w *writer, depth int, b *SlideBase, aw *attrWriter, body func(depth int, extra *extraCursor)) {
	b.tailAttrs(aw)
	if aw.err != nil {
		w.fail(aw.err)
		return
	}
	w.indent(depth)
	hasBody := body != nil || len(b.ExtraChildren) > 0
	w.startTag(aw.elem, aw.attrs, !hasBody)
	if hasBody {
		w.b.WriteByte('\n')
		extra := w.cursor(depth+1, b.ExtraChildren)
		if body != nil {
			body(depth+1, extra)
		}
		extra.rest()
		w.indent(depth)
		w.endTag(aw.elem)
	}
	w.b.WriteByte('\n')
}

// newSlideFor returns an empty slide of the kind an element names, or nil.
func newSlideFor(el *elem) Slide {
	if el.name.Space != "" {
		return nil
	}
	switch el.name.Local {
	case "web-slide":
		return &WebSlide{}
	case "poll-slide":
		return &PollSlide{}
	case "text-slide":
		return &TextSlide{}
	case "demo-slide":
		return &DemoSlide{}
	case "image-slide":
		return &ImageSlide{}
	case "media-slide":
		return &MediaSlide{}
	}
	return nil
}

// decodeSlide interprets one slide element; an unknown element becomes an
// *UnknownSlide holding it whole.
func decodeSlide(el *elem) (Slide, error) {
	s := newSlideFor(el)
	if s == nil {
		u := &UnknownSlide{}
		return u, u.decodeUnknown(el)
	}
	kept, kids, err := preservedKids(el, s.knownChild)
	if err != nil {
		return nil, err
	}
	a := newAttrReader(el)
	b := s.Base()
	b.decodeBase(a, false)
	if err := s.decode(el, a, kids); err != nil {
		return nil, err
	}
	if a.err != nil {
		return nil, a.err
	}
	b.Extra = a.extras()
	b.ExtraChildren = kept
	return s, nil
}

// ParseSlide reads a document whose root is a single slide element, such as the
// seeds' examples. The slide has no id until it is added to a set.
func ParseSlide(r io.Reader) (Slide, error) {
	root, err := parseTree(r)
	if err != nil {
		return nil, err
	}
	return decodeSlide(root)
}

// EncodeSlide writes one slide as a document of its own.
func EncodeSlide(w io.Writer, s Slide) error {
	if err := checkSlide(s); err != nil {
		return err
	}
	var out writer
	out.b.WriteString(xmlHeader)
	s.encode(&out, 0)
	return out.finish(w)
}

// checkSlide refuses nil slides (including typed nil pointers) before use.
func checkSlide(s Slide) error {
	var isNil bool
	switch v := s.(type) {
	case nil:
		isNil = true
	case *WebSlide:
		isNil = v == nil
	case *PollSlide:
		isNil = v == nil
	case *TextSlide:
		isNil = v == nil
	case *DemoSlide:
		isNil = v == nil
	case *ImageSlide:
		isNil = v == nil
	case *MediaSlide:
		isNil = v == nil
	case *UnknownSlide:
		isNil = v == nil
	}
	if isNil {
		return &Error{Err: ErrInvalid, Msg: "nil slide"}
	}
	return nil
}

// UnknownSlide is a child element of a slide set that this package does not know
// (a slide kind of a later version, say). It is kept whole: its attributes (other
// than the common ones and slide-id) in Extra, all of its content — text included —
// in ExtraChildren, and its element name in Element.
type UnknownSlide struct {
	SlideBase
	Element xml.Name
}

func (*UnknownSlide) Kind() Kind                               { return KindUnknown }
func (*UnknownSlide) ContentRefs() []ContentRef                { return nil }
func (u *UnknownSlide) element() string                        { return qname(u.Element) }
func (*UnknownSlide) decode(*elem, *attrReader, []*elem) error { return nil }
func (*UnknownSlide) knownChild(*elem) bool                    { return false }

func (u *UnknownSlide) decodeUnknown(el *elem) error {
	u.Element = el.name
	a := newAttrReader(el)
	u.decodeBase(a, true)
	if a.err != nil {
		return a.err
	}
	u.Extra = a.extras()
	for _, k := range el.kids {
		u.ExtraChildren = append(u.ExtraChildren, k.toNode())
	}
	return nil
}

func (u *UnknownSlide) encode(w *writer, depth int) {
	name := qname(u.Element)
	if !validName(name) {
		w.fail(encodeErr("", "", "unknown slide has an invalid element name"))
		return
	}
	aw := &attrWriter{elem: name}
	aw.optStr("name", u.Name)
	aw.optStr("recording-id", u.RecordingID)
	aw.optStr("createdby", u.CreatedBy)
	u.tailAttrs(aw)
	if aw.err != nil {
		w.fail(aw.err)
		return
	}
	// Content is written exactly as read: it may be mixed text.
	w.indent(depth)
	w.raw(Node{Type: ElementNode, Name: u.Element, Attrs: aw.attrs, Children: u.ExtraChildren}, depth)
	w.b.WriteByte('\n')
}
