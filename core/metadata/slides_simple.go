package metadata

import "encoding/xml"

// WebSlide is <web-slide name recording-id createdby url>.
type WebSlide struct {
	SlideBase
	URL string // url
}

func (*WebSlide) Kind() Kind                { return KindWeb }
func (*WebSlide) element() string           { return "web-slide" }
func (*WebSlide) ContentRefs() []ContentRef { return nil }
func (*WebSlide) knownChild(*elem) bool     { return false }

func (s *WebSlide) decode(el *elem, a *attrReader, kids []*elem) error {
	s.URL = a.str("url")
	return nil
}

func (s *WebSlide) encode(w *writer, depth int) {
	aw := s.headAttrs(s.element())
	s.identity(aw)
	aw.add("url", s.URL)
	writeSlide(w, depth, &s.SlideBase, aw, nil)
}

// Choice is one <choice> of a poll. Extra keeps unknown attributes of the element.
type Choice struct {
	Text  string
	Extra []xml.Attr
}

// PollSlide is <poll-slide name recording-id createdby> with one <question> and
// its <choice> children, in order. Question and choice texts are kept exactly,
// surrounding whitespace included.
type PollSlide struct {
	SlideBase
	Question      string
	QuestionExtra []xml.Attr // unknown attributes of <question>
	Choices       []Choice
}

func (*PollSlide) Kind() Kind                { return KindPoll }
func (*PollSlide) element() string           { return "poll-slide" }
func (*PollSlide) ContentRefs() []ContentRef { return nil }
func (*PollSlide) knownChild(el *elem) bool  { return el.is("question") || el.is("choice") }

func (s *PollSlide) decode(el *elem, a *attrReader, kids []*elem) error {
	seenQuestion := false
	for _, k := range kids {
		switch {
		case k.is("question"):
			if seenQuestion {
				return invalidf(k, "", "a poll has one question")
			}
			seenQuestion = true
			text, err := textContent(k)
			if err != nil {
				return err
			}
			s.Question, s.QuestionExtra = text, k.attrs
		case k.is("choice"):
			text, err := textContent(k)
			if err != nil {
				return err
			}
			s.Choices = append(s.Choices, Choice{Text: text, Extra: k.attrs})
		}
	}
	return nil
}

func (s *PollSlide) encode(w *writer, depth int) {
	aw := s.headAttrs(s.element())
	s.identity(aw)
	writeSlide(w, depth, &s.SlideBase, aw, func(d int, extra *extraCursor) {
		extra.before(1)
		w.textElem(d, "question", extrasOnly(w, "question", s.QuestionExtra), s.Question)
		for i, c := range s.Choices {
			extra.before(i + 2)
			w.textElem(d, "choice", extrasOnly(w, "choice", c.Extra), c.Text)
		}
	})
}

// TextSlide is <text-slide name recording-id createdby> with one <current-text>.
// The text is kept exactly, surrounding whitespace included.
type TextSlide struct {
	SlideBase
	CurrentText      string
	CurrentTextExtra []xml.Attr // unknown attributes of <current-text>
}

func (*TextSlide) Kind() Kind                { return KindText }
func (*TextSlide) element() string           { return "text-slide" }
func (*TextSlide) ContentRefs() []ContentRef { return nil }
func (*TextSlide) knownChild(el *elem) bool  { return el.is("current-text") }

func (s *TextSlide) decode(el *elem, a *attrReader, kids []*elem) error {
	seen := false
	for _, k := range kids {
		if seen {
			return invalidf(k, "", "a text slide has one current-text")
		}
		seen = true
		text, err := textContent(k)
		if err != nil {
			return err
		}
		s.CurrentText, s.CurrentTextExtra = text, k.attrs
	}
	return nil
}

func (s *TextSlide) encode(w *writer, depth int) {
	aw := s.headAttrs(s.element())
	s.identity(aw)
	writeSlide(w, depth, &s.SlideBase, aw, func(d int, extra *extraCursor) {
		extra.before(1)
		w.textElem(d, "current-text", extrasOnly(w, "current-text", s.CurrentTextExtra), s.CurrentText)
	})
}

// DemoSlide is <demo-slide>, an application-sharing slide. All of its attributes
// are always written, in the seed's order.
type DemoSlide struct {
	SlideBase
	ShareProcInfo string // shareProcInfo: "<sip uri> - <hex process/session id>"
	ShareHwnd     int64  // shareHwnd: window handle of the shared window
	ShareSpeed    int64  // shareSpeed
	SharePid      int64  // sharePid: process id of the shared application
	SlideHotKey   int64  // slideHotKey
	SlideColor    int64  // slideColor: colour depth in bits (24)
	ShareTitle    string // shareTitle: window title
	SlideCtrl     int64  // slideCtrl
	ShareType     int64  // shareType: desktop or application sharing
}

func (*DemoSlide) Kind() Kind                { return KindDemo }
func (*DemoSlide) element() string           { return "demo-slide" }
func (*DemoSlide) ContentRefs() []ContentRef { return nil }
func (*DemoSlide) knownChild(*elem) bool     { return false }

func (s *DemoSlide) decode(el *elem, a *attrReader, kids []*elem) error {
	s.ShareProcInfo = a.str("shareProcInfo")
	s.ShareHwnd = a.int("shareHwnd")
	s.ShareSpeed = a.int("shareSpeed")
	s.SharePid = a.int("sharePid")
	s.SlideHotKey = a.int("slideHotKey")
	s.SlideColor = a.int("slideColor")
	s.ShareTitle = a.str("shareTitle")
	s.SlideCtrl = a.int("slideCtrl")
	s.ShareType = a.int("shareType")
	return nil
}

func (s *DemoSlide) encode(w *writer, depth int) {
	aw := s.headAttrs(s.element())
	s.identity(aw)
	aw.add("shareProcInfo", s.ShareProcInfo)
	aw.int("shareHwnd", s.ShareHwnd)
	aw.int("shareSpeed", s.ShareSpeed)
	aw.int("sharePid", s.SharePid)
	aw.int("slideHotKey", s.SlideHotKey)
	aw.int("slideColor", s.SlideColor)
	aw.add("shareTitle", s.ShareTitle)
	aw.int("slideCtrl", s.SlideCtrl)
	aw.int("shareType", s.ShareType)
	writeSlide(w, depth, &s.SlideBase, aw, nil)
}

// extrasOnly checks the preserved attributes of a known child element that has no
// known attributes of its own.
func extrasOnly(w *writer, elem string, extra []xml.Attr) []xml.Attr {
	aw := &attrWriter{elem: elem}
	aw.extras(extra)
	if aw.err != nil {
		w.fail(aw.err)
	}
	return aw.attrs
}
