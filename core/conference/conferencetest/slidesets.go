package conferencetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/metadata"
)

// everyKind builds one slide of every kind, referencing real stored content where the
// kind has content.
func everyKind(t *testing.T, e *conference.Engine, conf string) []metadata.Slide {
	t.Helper()
	ref := func() metadata.ContentRef {
		return store(t, e, conf, conference.SlideContent, randomBytes(t, 300)).Ref()
	}
	base := func(name string) metadata.SlideBase {
		return metadata.SlideBase{Name: name, CreatedBy: "sip:vw01@contoso.com [vw01]"}
	}
	ann := metadata.Annotation{Color: 255, Author: "vw01", Type: 1, Data: []byte{1, 0, 0, 0, 0, 0x0a}}
	return []metadata.Slide{
		&metadata.WebSlide{SlideBase: base("[ Web Slide 1 ]"), URL: "https://example.org/"},
		&metadata.PollSlide{SlideBase: base("[ Poll 1 ]"), Question: "What day is today?",
			Choices: []metadata.Choice{{Text: "MON"}, {Text: "TUE"}}},
		&metadata.TextSlide{SlideBase: base("[ Text Slide 1 ]"), CurrentText: "Some <text> & more"},
		&metadata.DemoSlide{SlideBase: base("Command Prompt"), ShareType: 1, SlideColor: 24, SharePid: 4592,
			ShareTitle: "Command Prompt", ShareProcInfo: "sip:vw01@contoso.com - 01C7E74B9137AC70"},
		&metadata.ImageSlide{SlideBase: base("[ White Board 1 ]"), RichSlideType: metadata.RichWhiteboard,
			ImageWidth: 704, ImageHeight: 528, PageNumber: -1, Annotations: []metadata.Annotation{ann}},
		&metadata.ImageSlide{SlideBase: base("[ Snapshot 1 ]"), RichSlideType: metadata.RichSnapshot,
			Image: ref(), Thumbnail: ref(), PageNumber: -1, ThumbnailAspect: "1.0"},
		&metadata.ImageSlide{SlideBase: base("Slide 1"), RichSlideType: metadata.RichPowerPoint,
			Image: ref(), Thumbnail: ref(), Document: ref(), PageNumber: 1},
		&metadata.ImageSlide{SlideBase: base("Page 1"), RichSlideType: metadata.RichWord, SlideSetName: "test.doc",
			Image: ref(), Thumbnail: ref(), Document: ref(), PageNumber: 1},
		&metadata.MediaSlide{SlideBase: base("Clip"), Media: ref(), MediaType: "video/mp4", OriginalFilename: "clip.mp4",
			Chunks: []metadata.Chunk{{Ref: ref(), Size: 300}, {Ref: ref(), Size: 300}}},
	}
}

func testSlideSetsOfEveryKind(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "kinds")
	set, err := e.CreateSlideSet(c, "kinds", "Deck", "sip:vw01@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if set.ID != "aaa" {
		t.Fatalf("first slide set id %q, want aaa", set.ID)
	}
	slides := everyKind(t, e, "kinds")
	updated, err := e.UpdateSlideSet(c, "kinds", set.ID, func(s *metadata.SlideSet) error {
		for _, sl := range slides {
			if _, err := s.Append(sl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A fresh engine (new backend instance) reads what the first one journaled.
	again, err := env.Engine(t).SlideSet(c, "kinds", set.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := updated.Marshal()
	got, _ := again.Marshal()
	if string(got) != string(want) {
		t.Fatalf("slide set after reload differs:\n got %s\nwant %s", got, want)
	}
	kinds := map[metadata.Kind]bool{}
	for _, sl := range again.Slides {
		kinds[sl.Kind()] = true
	}
	for _, k := range []metadata.Kind{metadata.KindWeb, metadata.KindPoll, metadata.KindText, metadata.KindDemo,
		metadata.KindWhiteboard, metadata.KindSnapshot, metadata.KindPowerPoint, metadata.KindWord, metadata.KindMedia} {
		if !kinds[k] {
			t.Errorf("kind %v missing after reload", k)
		}
	}
}

func testSlideSetOperations(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "ops")
	var ids []string
	for range 3 {
		s, err := e.CreateSlideSet(c, "ops", "Deck", "sip:a@b")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "aaa,aab,aac" {
		t.Fatalf("ids %v", ids)
	}
	var first, second string
	_, err := e.UpdateSlideSet(c, "ops", "aab", func(s *metadata.SlideSet) error {
		var err error
		if first, err = s.Append(&metadata.TextSlide{SlideBase: metadata.SlideBase{Name: "one"}}); err != nil {
			return err
		}
		second, err = s.Append(&metadata.ImageSlide{SlideBase: metadata.SlideBase{Name: "wb"}, RichSlideType: metadata.RichWhiteboard})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := e.UpdateSlideSet(c, "ops", "aab", func(s *metadata.SlideSet) error {
		if err := s.Move(second, 0); err != nil {
			return err
		}
		return s.AppendAnnotation(second, metadata.Annotation{Author: "vw01", Type: 23, Data: []byte{0x17, 0, 0x97}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if set.Slides[0].Base().ID != second || set.Slides[1].Base().ID != first {
		t.Fatalf("order after move: %s, %s", set.Slides[0].Base().ID, set.Slides[1].Base().ID)
	}
	if wb := set.Slides[0].(*metadata.ImageSlide); len(wb.Annotations) != 1 || wb.Annotations[0].Data[2] != 0x97 {
		t.Fatalf("annotation not appended: %+v", wb.Annotations)
	}
	xml, err := e.SlideSetXML(c, "ops", "aab")
	if err != nil || !strings.Contains(string(xml), "<ann ") {
		t.Fatalf("XML: %v\n%s", err, xml)
	}
	if _, err := e.ReplaceSlideSetXML(c, "ops", "aab", xml); err != nil {
		t.Fatalf("replace with its own XML: %v", err)
	}
	if err := e.DeleteSlideSet(c, "ops", "aaa"); err != nil {
		t.Fatal(err)
	}
	sets, err := e.ListSlideSets(c, "ops")
	if err != nil || len(sets) != 2 || sets[0].ID != "aab" {
		t.Fatalf("list after delete: %d sets, %v", len(sets), err)
	}
	next, err := e.CreateSlideSet(c, "ops", "Deck", "sip:a@b")
	if err != nil || next.ID != "aad" {
		t.Fatalf("id after a delete: %q, %v (ids are never reused)", next.ID, err)
	}
}

func testSlideSetBadInput(t *testing.T, env *Env) {
	e := env.Engine(t)
	c := ctx(t)
	mustConference(t, e, "bad")
	if _, err := e.CreateSlideSet(c, "bad", "Deck", "sip:a@b"); err != nil {
		t.Fatal(err)
	}
	before, _ := e.SlideSetXML(c, "bad", "aaa")
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"unknown conference", func() error { _, err := e.SlideSet(c, "nope", "aaa"); return err }, conference.ErrNotFound},
		{"unknown set", func() error { _, err := e.SlideSet(c, "bad", "zzz"); return err }, conference.ErrNotFound},
		{"traversal set id", func() error { _, err := e.SlideSet(c, "bad", "../aaa"); return err }, conference.ErrInvalidInput},
		{"malformed XML", func() error { _, err := e.ReplaceSlideSetXML(c, "bad", "aaa", []byte("<slideset")); return err }, conference.ErrInvalidInput},
		{"XML of another set", func() error {
			_, err := e.ReplaceSlideSetXML(c, "bad", "aaa", []byte(`<slideset id="aab" name="x"/>`))
			return err
		}, conference.ErrInvalidInput},
		{"move of a missing slide", func() error {
			_, err := e.UpdateSlideSet(c, "bad", "aaa", func(s *metadata.SlideSet) error { return s.Move("999", 0) })
			return err
		}, conference.ErrNotFound},
		{"bad annotation target", func() error {
			_, err := e.UpdateSlideSet(c, "bad", "aaa", func(s *metadata.SlideSet) error {
				return s.AppendAnnotation("42", metadata.Annotation{})
			})
			return err
		}, conference.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	after, _ := e.SlideSetXML(c, "bad", "aaa")
	if string(before) != string(after) {
		t.Fatalf("a refused change altered the set:\n%s\n%s", before, after)
	}
}
