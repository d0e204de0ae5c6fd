package metadata

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

// benchSet is a large, realistic set: 1000 PowerPoint pages with two annotations
// each, the size of a long deck after a busy session.
func benchSet(b *testing.B) []byte {
	b.Helper()
	s := &SlideSet{Name: "bench", CreatedBy: "sip:p@example.org [p]", Created: FromUnixMillis(1763800000000)}
	ann := Annotation{Author: "p", Type: 1, Data: bytes.Repeat([]byte{1, 2, 3, 4}, 64)}
	for i := 0; i < 1000; i++ {
		sl := &ImageSlide{SlideBase: SlideBase{Name: "Slide", CreatedBy: "sip:p@example.org [p]"},
			SlideSetName: "deck.pptx", Image: ref(byte(i), "png"), Thumbnail: ref(byte(i+1), "png"),
			Document: ref(0, "ppt"), ImageWidth: 1280, ImageHeight: 720, PageNumber: int64(i + 1),
			ThumbnailAspect: "1.77777779", Annotations: []Annotation{ann, ann}}
		if _, err := s.Append(sl); err != nil {
			b.Fatal(err)
		}
	}
	out, err := s.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkRawTokens is the baseline: encoding/xml tokenising the same bytes
// without building anything.
func BenchmarkRawTokens(b *testing.B) {
	doc := benchSet(b)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		d := xml.NewDecoder(bytes.NewReader(doc))
		for {
			if _, err := d.RawToken(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkParseSlideSet(b *testing.B) {
	doc := benchSet(b)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := UnmarshalSlideSet(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSlideSet(b *testing.B) {
	doc := benchSet(b)
	s, err := UnmarshalSlideSet(doc)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if err := s.Encode(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
