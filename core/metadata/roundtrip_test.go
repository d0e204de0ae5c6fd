package metadata

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
)

func ref(n byte, typ string) ContentRef {
	var id [16]byte
	var k [32]byte
	id[0], k[0] = n, n
	return ContentRef{Name: ContentName(id, typ), Key: KeyString(k)}
}

func attr(name, value string) xml.Attr { return xml.Attr{Name: xml.Name{Local: name}, Value: value} }

// codeBuiltSlides has one slide of every kind, with awkward values.
func codeBuiltSlides() []struct {
	name  string
	kind  Kind
	slide Slide
} {
	base := func(n string) SlideBase {
		return SlideBase{Name: n, RecordingID: "r1", CreatedBy: "sip:p@example.org [p]"}
	}
	ann := Annotation{Color: 16711680, Author: "p", Type: 1, RecordingID: "", Data: []byte{1, 0, 0xff, 0x10}}
	return []struct {
		name  string
		kind  Kind
		slide Slide
	}{
		{"web", KindWeb, &WebSlide{SlideBase: base("w"), URL: "https://example.org/?a=1&b=<2>"}},
		{"poll", KindPoll, &PollSlide{SlideBase: base("p"), Question: "  Which \"one\"?\n",
			Choices: []Choice{{Text: "A & B"}, {Text: ""}, {Text: "ünïcode ✓"}}}},
		{"poll without choices", KindPoll, &PollSlide{SlideBase: base("p0"), Question: "?"}},
		{"text", KindText, &TextSlide{SlideBase: base("t"), CurrentText: "line 1\r\nline 2\n\ttab <b>"}},
		{"application sharing", KindDemo, &DemoSlide{SlideBase: base("d"), ShareProcInfo: "sip:p@example.org - 01C7E74B9137AC70",
			ShareHwnd: 262300, ShareSpeed: 1, SharePid: 4592, SlideHotKey: 19, SlideColor: 24, ShareTitle: "Cmd", SlideCtrl: 0, ShareType: 2}},
		{"whiteboard", KindWhiteboard, &ImageSlide{SlideBase: base("wb"), RichSlideType: RichWhiteboard,
			ImageWidth: 704, ImageHeight: 528, PageNumber: -1, ThumbnailAspect: "1.33333337", Annotations: []Annotation{ann, ann}}},
		{"snapshot", KindSnapshot, &ImageSlide{SlideBase: base("sn"), RichSlideType: RichSnapshot,
			Image: ref(1, "png"), ImageFileSize: 52865, Thumbnail: ref(2, "png"), ThumbnailAspect: "1.0",
			ComplianceImage: "x1-aae.png", Annotations: []Annotation{ann}}},
		{"powerpoint", KindPowerPoint, &ImageSlide{SlideBase: base("Slide 3"), SlideSetName: "deck.pptx",
			Image: ref(3, "png"), Thumbnail: ref(4, "png"), Document: ref(5, "ppt"), PageNumber: 3,
			DocumentFileSize: 1 << 40, ThumbnailFileSize: 748}},
		{"word", KindWord, &ImageSlide{SlideBase: base("Page 1"), RichSlideType: RichWord, SlideSetName: "test.txt",
			Image: ref(6, "png"), Document: ref(7, "mdi"), Thumbnail: ref(8, "png"), ComplianceDocument: "x-aag-x.mdi"}},
		{"image of an unknown rich type", KindImageOther, &ImageSlide{SlideBase: base("future"), RichSlideType: "Hologram"}},
		{"multimedia", KindMedia, &MediaSlide{SlideBase: base("m"), Media: ref(9, "media"), MediaFileSize: 3 << 20,
			MediaType: "video/mp4", OriginalFilename: "talk 1.mp4",
			Chunks: []Chunk{{Ref: ref(10, "media"), Size: 1 << 20}, {Ref: ref(11, "media"), Size: 0, Extra: []xml.Attr{attr("codec", "h264")}}}}},
		{"multimedia without chunks", KindMedia, &MediaSlide{SlideBase: base("m0"), Media: ref(12, "media")}},
		{"unknown element", KindUnknown, &UnknownSlide{SlideBase: SlideBase{Name: "u",
			Extra:         []xml.Attr{attr("foo", "1")},
			ExtraChildren: []Node{{Type: TextNode, Data: " mixed "}, {Type: ElementNode, Name: xml.Name{Space: "q", Local: "x"}}}},
			Element: xml.Name{Local: "hologram-slide"}}},
	}
}

func TestRoundTripEveryKind(t *testing.T) {
	for _, tc := range codeBuiltSlides() {
		t.Run(tc.name, func(t *testing.T) {
			set := &SlideSet{ID: "aab", Name: "deck & co", CreatedBy: "sip:p@example.org", Created: FromUnixMillis(1188069617459)}
			id, err := set.Append(tc.slide)
			if err != nil {
				t.Fatal(err)
			}
			if tc.slide.Kind() != tc.kind {
				t.Errorf("kind %v, want %v", tc.slide.Kind(), tc.kind)
			}
			out, err := set.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnmarshalSlideSet(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !reflect.DeepEqual(set, got) {
				t.Errorf("round trip differs\nwant %#v\ngot  %#v\n%s", set.Slides[0], got.Slides[0], out)
			}
			sl, err := got.Slide(id)
			if err != nil || sl.Kind() != tc.kind {
				t.Errorf("find %s: %v %v", id, sl, err)
			}
			// And as a document of its own.
			var one bytes.Buffer
			if err := EncodeSlide(&one, tc.slide); err != nil {
				t.Fatal(err)
			}
			alone, err := ParseSlide(&one)
			if err != nil || !reflect.DeepEqual(alone, tc.slide) {
				t.Errorf("single-slide round trip: %v", err)
			}
		})
	}
}

func TestRoundTripFileSetAndConference(t *testing.T) {
	fs := []*FileSet{
		{Blob: ContentRef{Name: blob, Key: key64}, Size: 25 << 20, Uploaded: FromUnixMillis(1763800000123),
			UploadedBy: "sip:p@example.org", Deleted: true, OriginalFilename: `a "quoted" <name>.txt`,
			Created: FromFileTime(133500000001234567), Modified: FromFileTime(133500000009999999), ID: "aac"},
		{Blob: ContentRef{Name: blob, Key: key64}},
		{Size: 3, Extra: []xml.Attr{attr("x-note", "kept")}, ExtraChildren: []Node{{Type: ElementNode, Name: xml.Name{Local: "sig"}, Attrs: []xml.Attr{attr("v", "1")}}}},
	}
	for i, f := range fs {
		out, err := f.Marshal()
		if err != nil {
			t.Fatal(i, err)
		}
		got, err := UnmarshalFileSet(out)
		if err != nil || !reflect.DeepEqual(f, got) {
			t.Errorf("fileset %d: %v\n%#v\n%#v\n%s", i, err, f, got, out)
		}
	}
	cs := []*Conference{
		{ID: "c1", Organizer: "sip:o@example.org", Created: FromUnixMillis(1), Expires: FromUnixMillis(1209600001),
			Ended: FromUnixMillis(5000), KEKID: "kek-2026-01", WrappedMasterKey: bytes.Repeat([]byte{0xA5, 0}, 20)},
		{ID: "c2", Organizer: "sip:o@example.org", KEKID: "k", WrappedMasterKey: []byte{1},
			Extra: []xml.Attr{attr("organizer-hash", "abc")}},
	}
	for i, c := range cs {
		var buf bytes.Buffer
		if err := c.Encode(&buf); err != nil {
			t.Fatal(i, err)
		}
		got, err := ParseConference(&buf)
		if err != nil || !reflect.DeepEqual(c, got) {
			t.Errorf("conference %d: %v\n%#v\n%#v", i, err, c, got)
		}
	}
}

// TestUnknownContentPreserved loads a document full of things the model does not
// know and checks they all come back, in order.
func TestUnknownContentPreserved(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<!-- before root -->
<slideset xmlns:q="urn:q" name="s" createdby="c" q:owner="o" future="1">
  <!-- a comment among slides -->
  <web-slide name="w" recording-id="" createdby="c" url="u" z-last="9" a-first="8">
    <q:thumb size="3"><inner>text &amp; more<![CDATA[<raw>]]></inner></q:thumb>
    <later/>
  </web-slide>
  <hologram-slide name="h" depth="3">mixed <b>bold</b> text</hologram-slide>
  <poll-slide name="p" recording-id="" createdby="c">
    <question lang="en">Q</question>
    <choice weight="2">A</choice>
    <explanation>why</explanation>
  </poll-slide>
  <image-slide name="i" recording-id="" createdby="c" page-number="0" slideset-name="" image-width-attr="0">
    <ann COLOR="0" AUTHOR="a" TYPE="1" recording-id="" pressure="high">  0A0b  </ann>
    <layer id="1"/>
  </image-slide>
</slideset>
<!-- after root -->`
	s, err := ParseSlideSet(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := UnmarshalSlideSet(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(s, again) {
		t.Errorf("not stable:\n%s", out)
	}
	assertNothingLost(t, []byte(doc), out, nil)
	for _, want := range []string{
		`xmlns:q="urn:q"`, `q:owner="o"`, `future="1"`, `<!-- a comment among slides -->`,
		`z-last="9" a-first="8"`,
		`<q:thumb size="3"><inner>text &amp; more&lt;raw&gt;</inner></q:thumb>`,
		`<hologram-slide name="h" slide-id="2" depth="3">mixed <b>bold</b> text</hologram-slide>`,
		`<question lang="en">Q</question>`, `<explanation>why</explanation>`, `<choice weight="2">A</choice>`,
		`page-number="0"`, `slideset-name=""`, `image-width-attr="0"`, `pressure="high">0a0b</ann>`, `<layer id="1"/>`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s\n%s", want, out)
		}
	}
	if u, ok := s.Slides[1].(*UnknownSlide); !ok || u.Element.Local != "hologram-slide" || u.Name != "h" {
		t.Errorf("unknown slide: %#v", s.Slides[1])
	}
	img := s.Slides[3].(*ImageSlide)
	if !bytes.Equal(img.Annotations[0].Data, []byte{0x0a, 0x0b}) {
		t.Errorf("annotation data %x", img.Annotations[0].Data)
	}
	// A known field set later wins over the preserved zero value of the same name.
	img.PageNumber = 7
	out, _ = s.Marshal()
	if strings.Contains(string(out), `page-number="0"`) || !strings.Contains(string(out), `page-number="7"`) {
		t.Errorf("field did not win over preserved zero:\n%s", out)
	}
}

// TestUnknownChildrenOrder: unknown children and comments are written back at
// their place among the known children.
func TestUnknownChildrenOrder(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"poll",
			`<poll-slide name="p" recording-id="" createdby="c"><x1/><question>Q</question><!--c--><x2/><choice>A</choice><x3/></poll-slide>`,
			"  <x1/>\n  <question>Q</question>\n  <!--c-->\n  <x2/>\n  <choice>A</choice>\n  <x3/>\n</poll-slide>"},
		{"image",
			`<image-slide name="i" recording-id="" createdby="c"><ann COLOR="0" AUTHOR="a" TYPE="1" recording-id="">00</ann><layer/><ann COLOR="0" AUTHOR="a" TYPE="2" recording-id="">01</ann></image-slide>`,
			`<ann COLOR="0" AUTHOR="a" TYPE="1" recording-id="">00</ann>` + "\n  <layer/>\n  " + `<ann COLOR="0" AUTHOR="a" TYPE="2"`},
		{"known children reordered: the question is written first",
			`<poll-slide name="p" recording-id="" createdby="c"><choice>A</choice><x/><question>Q</question></poll-slide>`,
			"  <question>Q</question>\n  <x/>\n  <choice>A</choice>\n</poll-slide>"},
	}
	for _, tc := range cases {
		s, err := ParseSlide(strings.NewReader(tc.doc))
		if err != nil {
			t.Fatal(tc.name, err)
		}
		var out bytes.Buffer
		if err := EncodeSlide(&out, s); err != nil {
			t.Fatal(tc.name, err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%s: got\n%s", tc.name, out.String())
		}
		again, err := ParseSlide(&out)
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Errorf("%s: not stable: %v", tc.name, err)
		}
	}

	// A comment between slides stays between them.
	set, err := UnmarshalSlideSet([]byte(`<slideset><web-slide/><!-- between --><text-slide/></slideset>`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := set.Marshal()
	if !strings.Contains(string(out), "slide-id=\"1\"/>\n  <!-- between -->\n  <text-slide") {
		t.Errorf("comment moved:\n%s", out)
	}

	// Known children removed by code: preserved ones anchored past the end go last.
	s, _ := ParseSlide(strings.NewReader(`<image-slide><ann COLOR="0" AUTHOR="a" TYPE="1" recording-id="">00</ann><layer/><ann COLOR="0" AUTHOR="a" TYPE="1" recording-id="">01</ann></image-slide>`))
	img := s.(*ImageSlide)
	img.Annotations = nil
	var buf bytes.Buffer
	if err := EncodeSlide(&buf, img); err != nil || !strings.Contains(buf.String(), "<layer/>") {
		t.Errorf("%v\n%s", err, buf.String())
	}
}
