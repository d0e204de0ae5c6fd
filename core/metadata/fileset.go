package metadata

import (
	"encoding/xml"
	"io"
	"time"
)

// FileSet is a handout (file transfer) document: the root element <fileset> of
// the seeds with exactly their attributes, in their order, plus Lectern's optional
// id. Times are authoritative in their numeric attributes; the …Date display
// attributes are rewritten from them on save (UTC, "M/D/YYYY h:mm PM").
//
//	<fileset name size key UploadedOnDate UploadedOn UploadedBy file_deleted
//	         original_filename creation_date CreatedOnDate modification_date
//	         ModifiedOnDate id/>
type FileSet struct {
	Blob             ContentRef // name + key: the encrypted blob (<32 hex>.blb; legacy <12 hex>.blb)
	Size             int64      // size: plain size in bytes
	Uploaded         time.Time  // UploadedOn (Unix ms) + UploadedOnDate
	UploadedBy       string     // UploadedBy: SIP URI of the presenter
	Deleted          bool       // file_deleted
	OriginalFilename string     // original_filename
	Created          time.Time  // creation_date (FILETIME) + CreatedOnDate: the file's own creation time
	Modified         time.Time  // modification_date (FILETIME) + ModifiedOnDate
	ID               string     // id: the handout id (aaa…), also in the file name; optional on load

	Extra         []xml.Attr // unknown attributes, in order
	ExtraChildren []Node     // unknown child elements and comments, in order
}

const rootFileSet = "fileset"

// ContentRefs lists the blob (if any), like Slide.ContentRefs.
func (f *FileSet) ContentRefs() []ContentRef { return nonZero(f.Blob) }

// ParseFileSet reads a handout document strictly.
func ParseFileSet(r io.Reader) (*FileSet, error) {
	root, err := parseTree(r)
	if err != nil {
		return nil, err
	}
	return decodeFileSet(root)
}

// UnmarshalFileSet parses a document held in memory.
func UnmarshalFileSet(data []byte) (*FileSet, error) { return ParseFileSet(bytesReader(data)) }

func decodeFileSet(root *elem) (*FileSet, error) {
	if !root.is(rootFileSet) {
		return nil, invalidf(root, "", "root element is <%s>, want <%s>", qname(root.name), rootFileSet)
	}
	kept, _, err := preservedKids(root, noKnownKids)
	if err != nil {
		return nil, err
	}
	a := newAttrReader(root)
	f := &FileSet{
		Blob:             a.ref("name", "key", handoutBlob),
		Size:             a.int("size"),
		Uploaded:         a.unixMillis("UploadedOn", "UploadedOnDate"),
		UploadedBy:       a.str("UploadedBy"),
		Deleted:          a.bool("file_deleted"),
		OriginalFilename: a.str("original_filename"),
		Created:          a.fileTime("creation_date", "CreatedOnDate"),
		Modified:         a.fileTime("modification_date", "ModifiedOnDate"),
		ID:               a.optStr("id"),
	}
	if a.err == nil && f.Size < 0 {
		a.fail("size", "negative size")
	}
	if a.err != nil {
		return nil, a.err
	}
	f.Extra = a.extras()
	f.ExtraChildren = kept
	return f, nil
}

// Encode writes the handout document. Nothing is written unless the whole
// document could be built.
func (f *FileSet) Encode(w io.Writer) error {
	out, err := f.build()
	if err != nil {
		return err
	}
	return out.finish(w)
}

// Marshal returns the handout document.
func (f *FileSet) Marshal() ([]byte, error) {
	out, err := f.build()
	if err != nil {
		return nil, err
	}
	return out.b.Bytes(), nil
}

func (f *FileSet) build() (*writer, error) {
	if f.Size < 0 {
		return nil, encodeErr(rootFileSet, "size", "negative size")
	}
	aw := &attrWriter{elem: rootFileSet}
	if !f.Blob.IsZero() {
		aw.ref("name", "key", handoutBlob, f.Blob)
		// The seeds put size between name and key.
		if aw.err == nil {
			name, key := aw.attrs[0], aw.attrs[1]
			aw.attrs = aw.attrs[:0]
			aw.attrs = append(aw.attrs, name)
			aw.int("size", f.Size)
			aw.attrs = append(aw.attrs, key)
		}
	} else {
		aw.int("size", f.Size)
	}
	if !f.Uploaded.IsZero() {
		aw.add("UploadedOnDate", DisplayTime(f.Uploaded))
		aw.unixMillis("UploadedOn", "", f.Uploaded)
	}
	aw.add("UploadedBy", f.UploadedBy)
	aw.bool("file_deleted", f.Deleted)
	aw.add("original_filename", f.OriginalFilename)
	aw.fileTime("creation_date", "CreatedOnDate", f.Created)
	aw.fileTime("modification_date", "ModifiedOnDate", f.Modified)
	aw.optStr("id", f.ID)
	aw.extras(f.Extra)
	if aw.err != nil {
		return nil, aw.err
	}
	w := &writer{}
	w.b.WriteString(xmlHeader)
	empty := len(f.ExtraChildren) == 0
	w.startTag(rootFileSet, aw.attrs, empty)
	if !empty {
		w.b.WriteByte('\n')
		w.preserved(1, f.ExtraChildren)
		w.endTag(rootFileSet)
	}
	w.b.WriteByte('\n')
	if w.err != nil {
		return nil, w.err
	}
	return w, nil
}

// Validate reports whether the handout can be written, without writing it.
func (f *FileSet) Validate() error {
	_, err := f.build()
	return err
}
