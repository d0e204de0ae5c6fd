package metadata

import (
	"encoding/xml"
	"io"
	"strconv"
	"time"
)

// SlideSet is a slide set document: the root element <slideset> holding the set's
// attributes and one child element per slide, in presentation order.
//
//	<slideset id name createdby created modified last-slide-id>
//	  <poll-slide …/> <image-slide …/> …
//	</slideset>
//
// A SlideSet is not safe for concurrent use; the engine serialises access.
type SlideSet struct {
	ID        string    // id: the set id (aaa, aab, …), also in the file name; lets the engine detect a swapped file
	Name      string    // name
	CreatedBy string    // createdby
	Created   time.Time // created: Unix milliseconds
	Modified  time.Time // modified: Unix milliseconds

	// LastSlideID is the last slide id handed out (attribute last-slide-id). Ids
	// are never reused, also after the slide holding the highest one is removed.
	LastSlideID uint64

	Slides []Slide

	Extra []xml.Attr // unknown attributes of <slideset>
	// ExtraChildren holds comments directly inside <slideset>, placed among the
	// slides by Node.Anchor. (Unknown child elements are slides of an unknown kind:
	// they are UnknownSlide entries in Slides.)
	ExtraChildren []Node
}

const rootSlideSet = "slideset"

// ParseSlideSet reads a slide set document strictly. Slides without a slide-id
// (documents of the original system) get one, in document order, from the set's
// counter.
func ParseSlideSet(r io.Reader) (*SlideSet, error) {
	root, err := parseTree(r)
	if err != nil {
		return nil, err
	}
	return decodeSlideSet(root)
}

func decodeSlideSet(root *elem) (*SlideSet, error) {
	if !root.is(rootSlideSet) {
		return nil, invalidf(root, "", "root element is <%s>, want <%s>", qname(root.name), rootSlideSet)
	}
	isSlide := func(*elem) bool { return true }
	comments, kids, err := preservedKids(root, isSlide)
	if err != nil {
		return nil, err
	}
	a := newAttrReader(root)
	s := &SlideSet{
		ID:        a.optStr("id"),
		Name:      a.str("name"),
		CreatedBy: a.str("createdby"),
		Created:   a.unixMillis("created", ""),
		Modified:  a.unixMillis("modified", ""),
	}
	if a.has("last-slide-id") {
		v, err := strconv.ParseUint(a.str("last-slide-id"), 10, 64)
		if err != nil || v > maxSlideID {
			a.fail("last-slide-id", "not a slide id counter")
		}
		s.LastSlideID = v
	}
	if a.err != nil {
		return nil, a.err
	}
	s.Extra = a.extras()
	s.ExtraChildren = comments
	seen := map[string]bool{}
	for _, k := range kids {
		sl, err := decodeSlide(k)
		if err != nil {
			return nil, err
		}
		if id := sl.Base().ID; id != "" {
			if seen[id] {
				return nil, invalidf(k, attrSlideID, "duplicate slide id")
			}
			seen[id] = true
			n, _ := strconv.ParseUint(id, 10, 64)
			s.LastSlideID = max(s.LastSlideID, n)
		}
		s.Slides = append(s.Slides, sl)
	}
	for _, sl := range s.Slides {
		if sl.Base().ID == "" {
			id, err := s.nextID()
			if err != nil {
				return nil, err
			}
			sl.Base().ID = id
		}
	}
	return s, nil
}

// maxSlideID keeps slide ids within the 18 digits slideIDPattern allows.
const maxSlideID = 999_999_999_999_999_999

func (s *SlideSet) nextID() (string, error) {
	if s.LastSlideID >= maxSlideID {
		return "", &Error{Err: ErrInvalid, Msg: "slide id counter exhausted"}
	}
	s.LastSlideID++
	return strconv.FormatUint(s.LastSlideID, 10), nil
}

// Encode writes the set as a UTF-8 XML document. Nothing is written unless the
// whole document could be built.
func (s *SlideSet) Encode(w io.Writer) error {
	out, err := s.build()
	if err != nil {
		return err
	}
	return out.finish(w)
}

// Marshal returns the set's document.
func (s *SlideSet) Marshal() ([]byte, error) {
	out, err := s.build()
	if err != nil {
		return nil, err
	}
	return out.b.Bytes(), nil
}

// UnmarshalSlideSet parses a document held in memory.
func UnmarshalSlideSet(data []byte) (*SlideSet, error) {
	return ParseSlideSet(bytesReader(data))
}

func (s *SlideSet) build() (*writer, error) {
	aw := &attrWriter{elem: rootSlideSet}
	aw.optStr("id", s.ID)
	aw.add("name", s.Name)
	aw.add("createdby", s.CreatedBy)
	aw.unixMillis("created", "", s.Created)
	aw.unixMillis("modified", "", s.Modified)
	if s.LastSlideID > maxSlideID {
		return nil, encodeErr(rootSlideSet, "last-slide-id", "counter out of range")
	}
	if s.LastSlideID > 0 {
		aw.add("last-slide-id", strconv.FormatUint(s.LastSlideID, 10))
	}
	aw.extras(s.Extra)
	if aw.err != nil {
		return nil, aw.err
	}
	seen := map[string]bool{}
	for _, sl := range s.Slides {
		if err := checkSlide(sl); err != nil {
			return nil, err
		}
		id := sl.Base().ID
		if id == "" {
			return nil, encodeErr(sl.element(), attrSlideID, "slide without id (add slides with Append or Insert)")
		}
		if seen[id] {
			return nil, encodeErr(sl.element(), attrSlideID, "duplicate slide id")
		}
		if n, err := strconv.ParseUint(id, 10, 64); err == nil && n > s.LastSlideID {
			return nil, encodeErr(sl.element(), attrSlideID, "slide id above last-slide-id")
		}
		seen[id] = true
	}
	w := &writer{}
	w.b.WriteString(xmlHeader)
	w.startTag(rootSlideSet, aw.attrs, len(s.Slides) == 0 && len(s.ExtraChildren) == 0)
	if len(s.Slides) > 0 || len(s.ExtraChildren) > 0 {
		w.b.WriteByte('\n')
		extra := w.cursor(1, s.ExtraChildren)
		for i, sl := range s.Slides {
			extra.before(i + 1)
			sl.encode(w, 1)
		}
		extra.rest()
		w.endTag(rootSlideSet)
	}
	w.b.WriteByte('\n')
	if w.err != nil {
		return nil, w.err
	}
	return w, nil
}
