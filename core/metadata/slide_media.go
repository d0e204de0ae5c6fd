package metadata

import "encoding/xml"

// MediaSlide is <media-slide>, Lectern's definition of the multimedia slide the
// seeds list without an example: the original media file and the chunk files it was
// cut into for streaming, each a content reference.
//
//	<media-slide name recording-id createdby media media-key media-filesize-attr
//	             media-type original-filename slide-id>
//	  <chunk name key size/>…
//	</media-slide>
type MediaSlide struct {
	SlideBase
	Media            ContentRef // media + media-key: the original file as uploaded
	MediaFileSize    int64      // media-filesize-attr (plain size in bytes)
	MediaType        string     // media-type: MIME type, e.g. "video/mp4"
	OriginalFilename string     // original-filename: the presenter's file name
	Chunks           []Chunk    // <chunk> children, in playback order
}

// Chunk is <chunk name key size>: one piece of a media file.
type Chunk struct {
	Ref   ContentRef // name + key
	Size  int64      // size: plain size in bytes
	Extra []xml.Attr
}

func (*MediaSlide) Kind() Kind               { return KindMedia }
func (*MediaSlide) element() string          { return "media-slide" }
func (*MediaSlide) knownChild(el *elem) bool { return el.is("chunk") }

// ContentRefs lists the media file, then every chunk in order.
func (s *MediaSlide) ContentRefs() []ContentRef {
	refs := nonZero(s.Media)
	for _, c := range s.Chunks {
		refs = append(refs, nonZero(c.Ref)...)
	}
	return refs
}

func (s *MediaSlide) decode(el *elem, a *attrReader, kids []*elem) error {
	s.Media = a.ref("media", "media-key", slideContent)
	s.MediaFileSize = a.optInt("media-filesize-attr")
	s.MediaType = a.optStr("media-type")
	s.OriginalFilename = a.optStr("original-filename")
	for _, k := range kids {
		inner, comments, err := structuredKids(k)
		if err != nil {
			return err
		}
		if len(inner) > 0 || len(comments) > 0 {
			return invalidf(k, "", "a chunk has no content")
		}
		ca := newAttrReader(k)
		c := Chunk{Ref: ca.ref("name", "key", slideContent), Size: ca.int("size")}
		if ca.err == nil && c.Ref.IsZero() {
			ca.fail("name", "a chunk needs name and key")
		}
		if ca.err == nil && c.Size < 0 {
			ca.fail("size", "negative size")
		}
		if ca.err != nil {
			return ca.err
		}
		c.Extra = ca.extras()
		s.Chunks = append(s.Chunks, c)
	}
	return nil
}

func (s *MediaSlide) encode(w *writer, depth int) {
	aw := s.headAttrs(s.element())
	s.identity(aw)
	aw.ref("media", "media-key", slideContent, s.Media)
	aw.optInt("media-filesize-attr", s.MediaFileSize)
	aw.optStr("media-type", s.MediaType)
	aw.optStr("original-filename", s.OriginalFilename)
	var body func(int, *extraCursor)
	if len(s.Chunks) > 0 {
		body = func(d int, extra *extraCursor) {
			for i, c := range s.Chunks {
				extra.before(i + 1)
				cw := &attrWriter{elem: "chunk"}
				if c.Ref.IsZero() {
					w.fail(encodeErr("chunk", "name", "a chunk needs name and key"))
					return
				}
				if c.Size < 0 {
					w.fail(encodeErr("chunk", "size", "negative size"))
					return
				}
				cw.ref("name", "key", slideContent, c.Ref)
				cw.int("size", c.Size)
				cw.extras(c.Extra)
				if cw.err != nil {
					w.fail(cw.err)
					return
				}
				w.indent(d)
				w.startTag("chunk", cw.attrs, true)
				w.b.WriteByte('\n')
			}
		}
	}
	writeSlide(w, depth, &s.SlideBase, aw, body)
}
