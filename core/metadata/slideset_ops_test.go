package metadata

import (
	"errors"
	"reflect"
	"testing"
)

func ids(s *SlideSet) []string {
	var out []string
	for _, sl := range s.Slides {
		out = append(out, sl.Base().ID)
	}
	return out
}

func TestSlideOperations(t *testing.T) {
	s := &SlideSet{Name: "ops"}
	for i := 0; i < 4; i++ {
		if _, err := s.Append(&WebSlide{URL: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		op   func() error
		want []string
		err  error
	}{
		{"initial", func() error { return nil }, []string{"1", "2", "3", "4"}, nil},
		{"insert at 0", func() error { _, err := s.Insert(0, &TextSlide{}); return err }, []string{"5", "1", "2", "3", "4"}, nil},
		{"insert in the middle", func() error { _, err := s.Insert(2, &PollSlide{}); return err }, []string{"5", "1", "6", "2", "3", "4"}, nil},
		{"insert past the end", func() error { _, err := s.Insert(7, &PollSlide{}); return err }, []string{"5", "1", "6", "2", "3", "4"}, ErrInvalid},
		{"insert negative", func() error { _, err := s.Insert(-1, &PollSlide{}); return err }, []string{"5", "1", "6", "2", "3", "4"}, ErrInvalid},
		{"insert nil", func() error { _, err := s.Insert(0, nil); return err }, []string{"5", "1", "6", "2", "3", "4"}, ErrInvalid},
		{"insert twice", func() error { _, err := s.Append(s.Slides[0]); return err }, []string{"5", "1", "6", "2", "3", "4"}, ErrInvalid},
		{"move forward", func() error { return s.Move("5", 3) }, []string{"1", "6", "2", "5", "3", "4"}, nil},
		{"move backward", func() error { return s.Move("4", 0) }, []string{"4", "1", "6", "2", "5", "3"}, nil},
		{"move to itself", func() error { return s.Move("2", 3) }, []string{"4", "1", "6", "2", "5", "3"}, nil},
		{"move out of range", func() error { return s.Move("2", 6) }, []string{"4", "1", "6", "2", "5", "3"}, ErrInvalid},
		{"move unknown", func() error { return s.Move("99", 0) }, []string{"4", "1", "6", "2", "5", "3"}, ErrNotFound},
		{"remove the highest id", func() error { _, err := s.Remove("6"); return err }, []string{"4", "1", "2", "5", "3"}, nil},
		{"remove unknown", func() error { _, err := s.Remove("6"); return err }, []string{"4", "1", "2", "5", "3"}, ErrNotFound},
		{"ids are not reused", func() error { _, err := s.Append(&WebSlide{}); return err }, []string{"4", "1", "2", "5", "3", "7"}, nil},
	}
	for _, st := range steps {
		err := st.op()
		if st.err == nil && err != nil || st.err != nil && !errors.Is(err, st.err) {
			t.Fatalf("%s: error %v, want %v", st.name, err, st.err)
		}
		if got := ids(s); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("%s: %v, want %v", st.name, got, st.want)
		}
	}
	// The counter survives a save and load, also when the highest id is gone.
	if _, err := s.Remove("7"); err != nil {
		t.Fatal(err)
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSlideSet(out)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := back.Append(&WebSlide{})
	if id != "8" {
		t.Errorf("after reload the next id is %s, want 8", id)
	}
}

func TestAssignIDsOnLoad(t *testing.T) {
	doc := `<slideset name="s" createdby="c" last-slide-id="2"><web-slide/><web-slide slide-id="9"/><web-slide/></slideset>`
	s, err := UnmarshalSlideSet([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(s); !reflect.DeepEqual(got, []string{"10", "9", "11"}) || s.LastSlideID != 11 {
		t.Errorf("%v, counter %d", got, s.LastSlideID)
	}
}

func TestAnnotationsAndRefs(t *testing.T) {
	s := &SlideSet{Name: "a"}
	wb, _ := s.Append(&ImageSlide{RichSlideType: RichWhiteboard})
	web, _ := s.Append(&WebSlide{})
	ppt, _ := s.Append(&ImageSlide{Image: ref(1, "png"), Thumbnail: ref(2, "png"), Document: ref(3, "ppt")})
	media, _ := s.Append(&MediaSlide{Media: ref(4, "media"), Chunks: []Chunk{{Ref: ref(5, "media")}, {Ref: ref(6, "media")}}})
	a := Annotation{Color: 255, Author: "p", Type: 23, Data: []byte{0x17, 0, 0}}
	if err := s.AppendAnnotation(wb, a); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAnnotation(web, a); !errors.Is(err, ErrInvalid) {
		t.Errorf("annotating a web slide: %v", err)
	}
	if err := s.AppendAnnotation("42", a); !errors.Is(err, ErrNotFound) {
		t.Errorf("annotating a missing slide: %v", err)
	}
	out, _ := s.Marshal()
	back, err := UnmarshalSlideSet(out)
	if err != nil {
		t.Fatal(err)
	}
	sl, _ := back.Slide(wb)
	if anns := sl.(*ImageSlide).Annotations; len(anns) != 1 || !reflect.DeepEqual(anns[0], a) {
		t.Errorf("annotation: %+v", anns)
	}
	want := []ContentRef{ref(1, "png"), ref(2, "png"), ref(3, "ppt"), ref(4, "media"), ref(5, "media"), ref(6, "media")}
	if got := back.ContentRefs(); !reflect.DeepEqual(got, want) {
		t.Errorf("refs %v", got)
	}
	for _, id := range []string{ppt, media} {
		sl, _ := back.Slide(id)
		for _, r := range sl.ContentRefs() {
			if err := ValidateNewContentRef(r); err != nil {
				t.Errorf("%s: %v", r.Name, err)
			}
		}
	}
	if _, err := back.Slide("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("%v", err)
	}
	if back.Index("nope") != -1 || back.Index(web) != 1 {
		t.Error("Index")
	}
	if f := (&FileSet{Blob: ContentRef{Name: blob, Key: key64}}); len(f.ContentRefs()) != 1 {
		t.Error("fileset refs")
	}
}
