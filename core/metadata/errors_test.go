package metadata

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	const img = `<image-slide name="n" recording-id="" createdby="c"`
	cases := []struct {
		name string
		doc  string
		kind error
		line int
	}{
		{"unquoted attribute", "<slideset name=\"s\"\n createdby=x y/>", ErrMalformed, 2},
		{"mismatched end tag", "<slideset name=\"s\">\n<web-slide></poll-slide></slideset>", ErrMalformed, 2},
		{"duplicate attribute", `<slideset name="a" name="b"/>`, ErrMalformed, 1},
		{"unclosed", `<slideset name="s"><web-slide>`, ErrMalformed, 1},
		{"two roots", `<slideset/><slideset/>`, ErrMalformed, 1},
		{"text outside root", `<slideset/>junk`, ErrMalformed, 1},
		{"empty", ``, ErrMalformed, 1},
		{"undefined entity", `<slideset name="&nbsp;"/>`, ErrMalformed, 1},
		{"doctype", `<!DOCTYPE x [<!ENTITY e "boom">]><slideset/>`, ErrInvalid, 1},
		{"wrong root", `<slideset-v2/>`, ErrInvalid, 1},
		{"text among slides", `<slideset>hello<web-slide/></slideset>`, ErrInvalid, 1},
		{"odd hex", "<slideset>\n" + img + `><ann COLOR="0" AUTHOR="a" TYPE="1">abc</ann></image-slide></slideset>`, ErrInvalid, 2},
		{"non-hex", "<slideset>\n" + img + `><ann COLOR="0" AUTHOR="a" TYPE="1">zz</ann></image-slide></slideset>`, ErrInvalid, 2},
		{"space inside hex", "<slideset>\n" + img + `><ann COLOR="0" AUTHOR="a" TYPE="1">0a 0b</ann></image-slide></slideset>`, ErrInvalid, 2},
		{"element inside ann", "<slideset>\n" + img + `><ann COLOR="0"><b/></ann></image-slide></slideset>`, ErrInvalid, 2},
		{"bad COLOR", "<slideset>\n" + img + `><ann COLOR="red">00</ann></image-slide></slideset>`, ErrInvalid, 2},
		{"bad integer", img + ` image-width-attr="wide"/>`, ErrInvalid, 1},
		{"bad decimal", img + ` thumbnail-aspect="1,3"/>`, ErrInvalid, 1},
		{"bad slide id", `<slideset><web-slide slide-id="01"/></slideset>`, ErrInvalid, 1},
		{"duplicate slide id", "<slideset>\n<web-slide slide-id=\"3\"/>\n<text-slide slide-id=\"3\"/></slideset>", ErrInvalid, 3},
		{"bad counter", `<slideset last-slide-id="-1"/>`, ErrInvalid, 1},
		{"two questions", `<poll-slide><question>a</question><question>b</question></poll-slide>`, ErrInvalid, 1},
		{"chunk without key", `<media-slide><chunk name="x8d51284585d1.emedia" size="1"/></media-slide>`, ErrInvalid, 1},
		{"negative chunk size", `<media-slide><chunk name="x8d51284585d1.emedia" key="a51fe0f3e26813761e12435a9c2c5d89" size="-1"/></media-slide>`, ErrInvalid, 1},
		{"file_deleted not bool", `<fileset file_deleted="maybe"/>`, ErrInvalid, 1},
		{"FILETIME negative", `<fileset creation_date="-5"/>`, ErrInvalid, 1},
		{"UploadedOn not a number", `<fileset UploadedOn="yesterday"/>`, ErrInvalid, 1},
		{"conference without key", `<conference id="c" organizer="o" kek-id="k"/>`, ErrInvalid, 1},
		{"conference key not base64", `<conference id="c" organizer="o" kek-id="k" wrapped-master-key="!!"/>`, ErrInvalid, 1},
	}
	for _, tc := range cases {
		var err error
		switch {
		case strings.Contains(tc.doc, "<fileset") && !strings.Contains(tc.doc, "<slideset"):
			_, err = ParseFileSet(strings.NewReader(tc.doc))
		case strings.HasPrefix(tc.doc, "<conference"):
			_, err = ParseConference(strings.NewReader(tc.doc))
		case strings.HasPrefix(tc.doc, "<slideset") || strings.HasPrefix(tc.doc, "<!DOCTYPE") || tc.doc == "":
			_, err = ParseSlideSet(strings.NewReader(tc.doc))
		default:
			_, err = ParseSlide(strings.NewReader(tc.doc))
		}
		var e *Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &e) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.kind)
			continue
		}
		if e.Line != tc.line {
			t.Errorf("%s: line %d, want %d (%v)", tc.name, e.Line, tc.line, err)
		}
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeX"
	_, e1 := ParseSlide(strings.NewReader(`<image-slide name="n" image="x8d51284585d1.epng" key="` + secret + `"/>`))
	_, e2 := ParseFileSet(strings.NewReader(`<fileset name="a8f5689f4866.blb" key="` + secret + `"/>`))
	_, e3 := ParseConference(strings.NewReader(`<conference id="c" organizer="o" kek-id="k" wrapped-master-key="` + secret + `!"/>`))
	_, e4 := ParseSlide(strings.NewReader(`<media-slide><chunk name="x8d51284585d1.emedia" key="` + secret + `" size="1"/></media-slide>`))
	_, e5 := ParseSlide(strings.NewReader(`<image-slide name="n" image="x8d51284585d1.epng" key="&` + secret + `"/>`))
	_, e6 := ParseSlide(strings.NewReader(`<image-slide name="n" image="x8d51284585d1.epng" key="&` + secret + `;"/>`))
	for i, err := range []error{e1, e2, e3, e4, e5, e6} {
		if err == nil {
			t.Errorf("%d: accepted", i)
		} else if strings.Contains(err.Error(), secret[:16]) {
			t.Errorf("error shows the key: %v", err)
		}
	}
}

// endless is an io.Reader of a never-ending attribute value.
type endless struct{ started bool }

func (e *endless) Read(p []byte) (int, error) {
	if !e.started {
		e.started = true
		return copy(p, `<slideset name="`), nil
	}
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("reads MaxDocumentSize bytes")
	}
	if _, err := ParseSlideSet(&endless{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("endless document: %v", err)
	}
}

func TestDepthLimit(t *testing.T) {
	doc := "<slideset><x>" + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + "</x></slideset>"
	if _, err := ParseSlideSet(strings.NewReader(doc)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("deep document: %v", err)
	}
	ok := "<slideset><x>" + strings.Repeat("<a>", MaxDepth-3) + strings.Repeat("</a>", MaxDepth-3) + "</x></slideset>"
	s, err := ParseSlideSet(strings.NewReader(ok))
	if err != nil {
		t.Fatalf("document at the limit: %v", err)
	}
	if _, err := s.Marshal(); err != nil {
		t.Errorf("re-encode at the limit: %v", err)
	}
}

// TestNodeLimit: a document of more nodes than MaxNodes is refused as too large
// before it is built (each node costs far more memory than its bytes), whatever the
// nodes are; one at the limit parses and encodes again.
func TestNodeLimit(t *testing.T) {
	wrap := func(body string) string { return `<slideset name="s"><x-unknown>` + body + `</x-unknown></slideset>` }
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		// The root and x-unknown are two of the nodes.
		{"elements at the limit", wrap(strings.Repeat("<a/>", MaxNodes-2)), true},
		{"elements over the limit", wrap(strings.Repeat("<a/>", MaxNodes-1)), false},
		{"text runs over the limit", wrap(strings.Repeat("<a/>t", MaxNodes/2)), false},
		{"comments over the limit", wrap(strings.Repeat("<!--c-->", MaxNodes-1)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSlideSet(strings.NewReader(tt.doc))
			if !tt.ok {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("got %v, want ErrTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("document at the limit: %v", err)
			}
			if _, err := s.Marshal(); err != nil {
				t.Fatalf("re-encode at the limit: %v", err)
			}
		})
	}
}

// TestCheckWritable: the writer's node count agrees with the parser's, and refuses
// above MaxWriteNodes what the parser would still read, so that everything written
// can be read again.
func TestCheckWritable(t *testing.T) {
	wrap := func(body string) []byte {
		return []byte(`<slideset name="s"><x-unknown>` + body + `</x-unknown></slideset>`)
	}
	tests := []struct {
		name string
		doc  []byte
		ok   bool
	}{
		{"elements at the limit", wrap(strings.Repeat("<a/>", MaxWriteNodes-2)), true},
		{"elements over the limit", wrap(strings.Repeat("<a/>", MaxWriteNodes-1)), false},
		{"text runs count once each", wrap(strings.Repeat("<a/>t<![CDATA[u]]>", (MaxWriteNodes-2)/2)), true},
		{"text runs over the limit", wrap(strings.Repeat("<a/>t", MaxWriteNodes/2)), false},
		{"comments over the limit", wrap(strings.Repeat("<!--c-->", MaxWriteNodes-1)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckWritable(tt.doc)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v, want ErrTooLarge", err)
			}
			if _, err := ParseSlideSet(bytes.NewReader(tt.doc)); err != nil {
				t.Fatalf("the parser refuses what is under MaxNodes: %v", err)
			}
		})
	}
}

func TestReaderErrorIsReturned(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("<slideset>"), iotestErr{boom})
	if _, err := ParseSlideSet(r); !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Errorf("%v", err)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// countWriter counts what it is given.
type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

func TestEncodeRefusesUnwritableModels(t *testing.T) {
	good := func() *SlideSet { return &SlideSet{Name: "s"} }
	// withSlide bypasses Append (which refuses unwritable slides) to test Encode.
	withSlide := func(sl Slide) *SlideSet {
		s := good()
		s.LastSlideID = 1
		sl.Base().ID = "1"
		s.Slides = []Slide{sl}
		return s
	}
	cases := []struct {
		name  string
		build func() *SlideSet
	}{
		{"control character in a name", func() *SlideSet { s := good(); s.Name = "a\x00b"; return s }},
		{"invalid UTF-8", func() *SlideSet { s := good(); s.CreatedBy = "\xff"; return s }},
		{"bad ref on a slide", func() *SlideSet {
			return withSlide(&ImageSlide{Image: ContentRef{Name: "../../x", Key: key64}})
		}},
		{"half a ref", func() *SlideSet { return withSlide(&ImageSlide{Thumbnail: ContentRef{Name: name}}) }},
		{"bad extra attribute name", func() *SlideSet {
			s := good()
			s.Extra = []xml.Attr{{Name: xml.Name{Local: "a b"}, Value: "1"}}
			return s
		}},
		{"bad preserved element name", func() *SlideSet {
			return withSlide(&WebSlide{SlideBase: SlideBase{ExtraChildren: []Node{{Type: ElementNode, Name: xml.Name{Local: "1x"}}}}})
		}},
		{"comment with --", func() *SlideSet {
			s := good()
			s.ExtraChildren = []Node{{Type: CommentNode, Data: "a--b"}}
			return s
		}},
		{"slide without id", func() *SlideSet {
			s := good()
			s.Slides = append(s.Slides, &WebSlide{})
			return s
		}},
		{"duplicate ids", func() *SlideSet {
			s := good()
			s.Append(&WebSlide{})
			w := &WebSlide{}
			w.ID = "1"
			s.Slides = append(s.Slides, w)
			return s
		}},
		{"id above counter", func() *SlideSet {
			s := good()
			w := &WebSlide{}
			w.ID = "5"
			s.Slides = append(s.Slides, w)
			return s
		}},
		{"nil slide", func() *SlideSet { s := good(); s.Slides = []Slide{(*WebSlide)(nil)}; return s }},
		{"bad annotation author", func() *SlideSet {
			return withSlide(&ImageSlide{Annotations: []Annotation{{Author: "\x01"}}})
		}},
		{"bad aspect", func() *SlideSet { return withSlide(&ImageSlide{ThumbnailAspect: "wide"}) }},
		{"chunk without ref", func() *SlideSet { return withSlide(&MediaSlide{Chunks: []Chunk{{Size: 1}}}) }},
	}
	for _, tc := range cases {
		var w countWriter
		err := tc.build().Encode(&w)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if w.n != 0 {
			t.Errorf("%s: %d bytes written despite the error", tc.name, w.n)
		}
	}
	var w countWriter
	if err := (&FileSet{Created: FromUnixMillis(-20000000000000)}).Encode(&w); !errors.Is(err, ErrInvalid) || w.n != 0 {
		t.Errorf("FILETIME before 1601: %v, %d bytes", err, w.n)
	}
	if err := (&Conference{ID: "c"}).Encode(&w); !errors.Is(err, ErrInvalid) || w.n != 0 {
		t.Errorf("conference without key: %v", err)
	}
	var buf bytes.Buffer
	if err := EncodeSlide(&buf, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil slide: %v", err)
	}
}

// TestManyTextPiecesLinear guards against quadratic merging of text and CDATA
// pieces: 200k pieces must parse (quadratic merging would copy ~10^11 bytes).
func TestManyTextPiecesLinear(t *testing.T) {
	doc := "<slideset><x>" + strings.Repeat("a<![CDATA[b]]>", 200000) + "</x></slideset>"
	s, err := ParseSlideSet(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	u := s.Slides[0].(*UnknownSlide)
	if len(u.ExtraChildren) != 1 || len(u.ExtraChildren[0].Data) != 400000 {
		t.Errorf("text run split or lost: %d nodes", len(u.ExtraChildren))
	}
}

// TestMutationsRefuseUnwritableSlides: an acknowledged change must never make the
// set unsaveable, so Append/Insert/AppendAnnotation check first and change nothing
// when they refuse.
func TestMutationsRefuseUnwritableSlides(t *testing.T) {
	bad := []Slide{
		&ImageSlide{Image: ContentRef{Name: "../../x", Key: key64}},
		&ImageSlide{Thumbnail: ContentRef{Name: name}},
		&ImageSlide{ThumbnailAspect: "wide"},
		&MediaSlide{Chunks: []Chunk{{Size: 1}}},
		&TextSlide{CurrentText: "\x00"},
		&WebSlide{SlideBase: SlideBase{Extra: []xml.Attr{{Name: xml.Name{Local: "a b"}}}}},
	}
	s := &SlideSet{Name: "s"}
	keep, _ := s.Append(&ImageSlide{})
	for i, sl := range bad {
		sl.Base().ID = "prev"
		if _, err := s.Append(sl); !errors.Is(err, ErrInvalid) {
			t.Errorf("%d: %v", i, err)
		}
		if sl.Base().ID != "prev" {
			t.Errorf("%d: slide id changed to %q", i, sl.Base().ID)
		}
		if err := ValidateSlide(sl); !errors.Is(err, ErrInvalid) {
			t.Errorf("%d: ValidateSlide %v", i, err)
		}
	}
	if len(s.Slides) != 1 || s.LastSlideID != 1 {
		t.Errorf("set changed: %d slides, counter %d", len(s.Slides), s.LastSlideID)
	}
	if err := s.AppendAnnotation(keep, Annotation{Author: "\x01"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad annotation: %v", err)
	}
	if sl, _ := s.Slide(keep); len(sl.(*ImageSlide).Annotations) != 0 {
		t.Error("bad annotation was added")
	}
	if err := s.Validate(); err != nil {
		t.Errorf("set no longer valid: %v", err)
	}
	if err := (&FileSet{Size: -1}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("fileset: %v", err)
	}
	if err := (&Conference{}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("conference: %v", err)
	}
}
