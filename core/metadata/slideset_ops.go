package metadata

import (
	"bytes"
	"strconv"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// Index returns the position of the slide with the id, or -1.
func (s *SlideSet) Index(id string) int {
	for i, sl := range s.Slides {
		if sl.Base().ID == id {
			return i
		}
	}
	return -1
}

// Slide returns the slide with the id.
func (s *SlideSet) Slide(id string) (Slide, error) {
	i := s.Index(id)
	if i < 0 {
		return nil, &Error{Err: ErrNotFound, Msg: "slide id " + id}
	}
	return s.Slides[i], nil
}

// Append adds a slide at the end and returns the id it was given. Any id the slide
// already had is replaced: ids come only from the set's counter, so they are never
// reused.
func (s *SlideSet) Append(sl Slide) (string, error) {
	return s.Insert(len(s.Slides), sl)
}

// Insert adds a slide at position index (0 ≤ index ≤ number of slides) and returns
// its new id.
func (s *SlideSet) Insert(index int, sl Slide) (string, error) {
	if err := checkSlide(sl); err != nil {
		return "", err
	}
	if index < 0 || index > len(s.Slides) {
		return "", &Error{Err: ErrInvalid, Msg: "insert position out of range"}
	}
	for _, have := range s.Slides {
		if have == sl {
			return "", &Error{Err: ErrInvalid, Msg: "slide is already in the set"}
		}
	}
	if s.LastSlideID >= maxSlideID {
		return "", &Error{Err: ErrInvalid, Msg: "slide id counter exhausted"}
	}
	// Check that the slide can be written before it joins the set: a change the
	// engine acknowledged must never make the set impossible to save later.
	id, prev := strconv.FormatUint(s.LastSlideID+1, 10), sl.Base().ID
	sl.Base().ID = id
	if err := ValidateSlide(sl); err != nil {
		sl.Base().ID = prev
		return "", err
	}
	s.LastSlideID++
	s.Slides = append(s.Slides, nil)
	copy(s.Slides[index+1:], s.Slides[index:])
	s.Slides[index] = sl
	return id, nil
}

// Remove takes the slide with the id out of the set and returns it. Its id is not
// handed out again.
func (s *SlideSet) Remove(id string) (Slide, error) {
	i := s.Index(id)
	if i < 0 {
		return nil, &Error{Err: ErrNotFound, Msg: "slide id " + id}
	}
	sl := s.Slides[i]
	s.Slides = append(s.Slides[:i], s.Slides[i+1:]...)
	return sl, nil
}

// Move puts the slide with the id at position to (0 ≤ to < number of slides),
// shifting the slides in between.
func (s *SlideSet) Move(id string, to int) error {
	from := s.Index(id)
	if from < 0 {
		return &Error{Err: ErrNotFound, Msg: "slide id " + id}
	}
	if to < 0 || to >= len(s.Slides) {
		return &Error{Err: ErrInvalid, Msg: "move position out of range"}
	}
	sl := s.Slides[from]
	if from < to {
		copy(s.Slides[from:to], s.Slides[from+1:to+1])
	} else {
		copy(s.Slides[to+1:from+1], s.Slides[to:from])
	}
	s.Slides[to] = sl
	return nil
}

// AppendAnnotation adds an annotation to the slide with the id. Only image slides
// (whiteboard, snapshot, PowerPoint, Word) carry annotations.
func (s *SlideSet) AppendAnnotation(id string, a Annotation) error {
	sl, err := s.Slide(id)
	if err != nil {
		return err
	}
	img, ok := sl.(*ImageSlide)
	if !ok {
		return &Error{Err: ErrInvalid, Msg: sl.Kind().String() + " slides carry no annotations"}
	}
	var w writer
	a.encode(&w, 0)
	if w.err != nil {
		return w.err
	}
	img.Annotations = append(img.Annotations, a)
	return nil
}

// ContentRefs lists the content references of every slide, in slide order.
func (s *SlideSet) ContentRefs() []ContentRef {
	var out []ContentRef
	for _, sl := range s.Slides {
		out = append(out, sl.ContentRefs()...)
	}
	return out
}

// ValidateSlide reports whether the slide can be written (ErrInvalid if not), without
// writing it. Append, Insert and AppendAnnotation check this themselves; call it
// after changing a slide's fields directly, before acknowledging the change.
func ValidateSlide(sl Slide) error {
	if err := checkSlide(sl); err != nil {
		return err
	}
	var w writer
	sl.encode(&w, 0)
	return w.err
}

// Validate reports whether the whole set can be written, without writing it.
func (s *SlideSet) Validate() error {
	_, err := s.build()
	return err
}
