package metadata

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"time"
)

// Conference is conference.xml: the conference's identity, its lifetime and its
// master key — wrapped by the server's key-encryption key, never in plain text. The
// wrapping is done by the engine; this package carries the opaque blob.
//
//	<conference id organizer created expires ended kek-id wrapped-master-key/>
type Conference struct {
	ID        string    // id: the conference id
	Organizer string    // organizer: the organizer's URI (sip:…)
	Created   time.Time // created: Unix milliseconds
	Expires   time.Time // expires: Unix milliseconds
	Ended     time.Time // ended: Unix milliseconds, zero while running

	KEKID            string // kek-id: which server key wrapped the master key
	WrappedMasterKey []byte // wrapped-master-key: standard base64 in the document

	Extra         []xml.Attr
	ExtraChildren []Node
}

const rootConference = "conference"

// MaxConferenceSize bounds conference.xml when it is read. The file is a few hundred
// bytes (the organizer URI is at most 512); room is left for what a later version may
// add, never a megabyte. A larger file is damage, and is not read into memory whole:
// it is read at every open of its conference.
const MaxConferenceSize = 1 << 20

// ParseConference reads conference.xml strictly. id, organizer, kek-id and a
// non-empty wrapped-master-key are required.
func ParseConference(r io.Reader) (*Conference, error) {
	root, err := parseTree(r)
	if err != nil {
		return nil, err
	}
	if !root.is(rootConference) {
		return nil, invalidf(root, "", "root element is <%s>, want <%s>", qname(root.name), rootConference)
	}
	kept, _, err := preservedKids(root, noKnownKids)
	if err != nil {
		return nil, err
	}
	a := newAttrReader(root)
	c := &Conference{
		ID:        a.str("id"),
		Organizer: a.str("organizer"),
		Created:   a.unixMillis("created", ""),
		Expires:   a.unixMillis("expires", ""),
		Ended:     a.unixMillis("ended", ""),
		KEKID:     a.str("kek-id"),
	}
	if a.err == nil && a.has("wrapped-master-key") {
		b, err := base64.StdEncoding.Strict().DecodeString(a.str("wrapped-master-key"))
		if err != nil {
			a.fail("wrapped-master-key", "not base64")
		}
		c.WrappedMasterKey = b
	}
	if a.err != nil {
		return nil, a.err
	}
	if err := c.check(); err != nil {
		e := err.(*Error)
		e.Line, e.Column = root.line, root.col
		return nil, e
	}
	c.Extra = a.extras()
	c.ExtraChildren = kept
	return c, nil
}

// UnmarshalConference parses a document held in memory.
func UnmarshalConference(data []byte) (*Conference, error) {
	return ParseConference(bytesReader(data))
}

func (c *Conference) check() error {
	switch {
	case c.ID == "":
		return encodeErr(rootConference, "id", "missing")
	case c.Organizer == "":
		return encodeErr(rootConference, "organizer", "missing")
	case c.KEKID == "":
		return encodeErr(rootConference, "kek-id", "missing")
	case len(c.WrappedMasterKey) == 0:
		return encodeErr(rootConference, "wrapped-master-key", "missing")
	}
	return nil
}

// Encode writes conference.xml. Nothing is written unless the whole document could
// be built.
func (c *Conference) Encode(w io.Writer) error {
	out, err := c.build()
	if err != nil {
		return err
	}
	return out.finish(w)
}

// Marshal returns conference.xml.
func (c *Conference) Marshal() ([]byte, error) {
	out, err := c.build()
	if err != nil {
		return nil, err
	}
	return out.b.Bytes(), nil
}

func (c *Conference) build() (*writer, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	aw := &attrWriter{elem: rootConference}
	aw.add("id", c.ID)
	aw.add("organizer", c.Organizer)
	aw.unixMillis("created", "", c.Created)
	aw.unixMillis("expires", "", c.Expires)
	aw.unixMillis("ended", "", c.Ended)
	aw.add("kek-id", c.KEKID)
	aw.add("wrapped-master-key", base64.StdEncoding.EncodeToString(c.WrappedMasterKey))
	aw.extras(c.Extra)
	if aw.err != nil {
		return nil, aw.err
	}
	w := &writer{}
	w.b.WriteString(xmlHeader)
	empty := len(c.ExtraChildren) == 0
	w.startTag(rootConference, aw.attrs, empty)
	if !empty {
		w.b.WriteByte('\n')
		w.preserved(1, c.ExtraChildren)
		w.endTag(rootConference)
	}
	w.b.WriteByte('\n')
	if w.err != nil {
		return nil, w.err
	}
	return w, nil
}

// Validate reports whether conference.xml can be written, without writing it.
func (c *Conference) Validate() error {
	_, err := c.build()
	return err
}
