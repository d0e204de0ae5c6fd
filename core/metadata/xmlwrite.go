package metadata

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// writer builds a document in memory; Encode methods write it to the caller's
// io.Writer in one call only after the whole document was built and checked, so a
// model that cannot be encoded never produces half a document.
type writer struct {
	b   bytes.Buffer
	err error
}

const xmlHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *writer) indent(depth int) {
	for i := 0; i < depth; i++ {
		w.b.WriteString("  ")
	}
}

func (w *writer) startTag(name string, attrs []xml.Attr, empty bool) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	for _, a := range attrs {
		w.b.WriteByte(' ')
		w.b.WriteString(qname(a.Name))
		w.b.WriteString(`="`)
		if err := escapeAttr(&w.b, a.Value); err != nil {
			w.fail(encodeErr(name, qname(a.Name), "%v", err))
		}
		w.b.WriteByte('"')
	}
	if empty {
		w.b.WriteString("/>")
	} else {
		w.b.WriteByte('>')
	}
}

func (w *writer) endTag(name string) {
	w.b.WriteString("</")
	w.b.WriteString(name)
	w.b.WriteByte('>')
}

// textElem writes <name attrs>text</name> on its own line.
func (w *writer) textElem(depth int, name string, attrs []xml.Attr, text string) {
	w.indent(depth)
	w.startTag(name, attrs, false)
	if err := escapeText(&w.b, text); err != nil {
		w.fail(encodeErr(name, "", "%v", err))
	}
	w.endTag(name)
	w.b.WriteByte('\n')
}

// preserved writes kept nodes, each on its own line at depth; their own content is
// written exactly (no added whitespace) so that it reads back identically.
func (w *writer) preserved(depth int, nodes []Node) {
	c := w.cursor(depth, nodes)
	c.rest()
}

// extraCursor interleaves preserved children with known ones by their Anchor.
type extraCursor struct {
	w     *writer
	depth int
	nodes []Node
	done  []bool
}

func (w *writer) cursor(depth int, nodes []Node) *extraCursor {
	return &extraCursor{w: w, depth: depth, nodes: nodes, done: make([]bool, len(nodes))}
}

// before writes the preserved children anchored before the k-th known child.
func (c *extraCursor) before(k int) {
	for i, n := range c.nodes {
		if !c.done[i] && n.Anchor == k {
			c.write(i)
		}
	}
}

// rest writes every preserved child not written yet, in order.
func (c *extraCursor) rest() {
	for i := range c.nodes {
		if !c.done[i] {
			c.write(i)
		}
	}
}

func (c *extraCursor) write(i int) {
	c.done[i] = true
	c.w.indent(c.depth)
	c.w.raw(c.nodes[i], 0)
	c.w.b.WriteByte('\n')
}

// raw writes a Node verbatim.
func (w *writer) raw(n Node, depth int) {
	if depth > MaxDepth {
		w.fail(encodeErr("", "", "preserved content nested deeper than MaxDepth"))
		return
	}
	switch n.Type {
	case TextNode:
		if err := escapeText(&w.b, n.Data); err != nil {
			w.fail(encodeErr("", "", "preserved text: %v", err))
		}
	case CommentNode:
		if strings.Contains(n.Data, "--") || strings.HasSuffix(n.Data, "-") || !validChars(n.Data) {
			w.fail(encodeErr("", "", "comment cannot be written as XML"))
			return
		}
		w.b.WriteString("<!--")
		w.b.WriteString(n.Data)
		w.b.WriteString("-->")
	case ElementNode:
		name := qname(n.Name)
		if !validName(name) {
			w.fail(encodeErr("", "", "preserved element has an invalid name"))
			return
		}
		for _, a := range n.Attrs {
			if !validName(qname(a.Name)) {
				w.fail(encodeErr(name, "", "preserved attribute has an invalid name"))
				return
			}
		}
		if err := checkDuplicateAttrs(n.Attrs); err != "" {
			w.fail(encodeErr(name, err, "duplicate attribute"))
			return
		}
		w.startTag(name, n.Attrs, len(n.Children) == 0)
		if len(n.Children) == 0 {
			return
		}
		for _, c := range n.Children {
			w.raw(c, depth+1)
		}
		w.endTag(name)
	default:
		w.fail(encodeErr("", "", "preserved node of unknown type %d", n.Type))
	}
}

func (w *writer) finish(out io.Writer) error {
	if w.err != nil {
		return w.err
	}
	_, err := out.Write(w.b.Bytes())
	return err
}

// validName reports whether s parses as an XML name, by asking encoding/xml
// itself, so that exactly the names the parser accepts can be written back.
func validName(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n<>&\"'=/") {
		return false
	}
	tok, err := xml.NewDecoder(strings.NewReader("<" + s + "/>")).RawToken()
	if err != nil {
		return false
	}
	se, ok := tok.(xml.StartElement)
	return ok && qname(se.Name) == s
}

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// ValidText reports whether s can be written as XML text or an attribute value: valid
// UTF-8 of XML 1.0 characters only (no control characters but tab, LF and CR). The
// writer refuses anything else; callers check a value with it when they take it in,
// before work that would be wasted when the value is finally written.
func ValidText(s string) bool { return validChars(s) }

func validChars(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return false
			}
		}
		if !isXMLChar(r) {
			return false
		}
	}
	return true
}

var errBadChars = errors.New("value holds invalid UTF-8 or characters XML cannot carry")

// escapeText escapes character data. Newlines and tabs stay literal (readable);
// CR is written as a character reference because XML parsers turn a literal CR into
// LF. encoding/xml's EscapeText is not used because it also escapes every newline
// and silently replaces invalid characters instead of reporting them.
func escapeText(b *bytes.Buffer, s string) error {
	if !validChars(s) {
		return errBadChars
	}
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
	return nil
}

// escapeAttr escapes an attribute value; whitespace other than space is written as
// character references so that attribute-value normalisation in other parsers
// cannot change it.
func escapeAttr(b *bytes.Buffer, s string) error {
	if !validChars(s) {
		return errBadChars
	}
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
	return nil
}
