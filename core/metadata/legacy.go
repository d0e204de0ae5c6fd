package metadata

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
)

// The original system wrote at least one document that is not XML: the seeds'
// application-sharing example has unquoted attribute values that contain spaces,
//
//	createdby=sip:vw01@rtcdev.nttest.microsoft.com [vw01] shareProcInfo=sip:… - 01C7E74B9137AC70 shareHwnd="262300"
//
// The strict parsers (ParseSlide, ParseSlideSet, ParseFileSet) refuse such input
// with ErrMalformed and its line and column: guessing silently inside the normal
// load path would hide corruption. Importing a document of the original system goes
// through the explicit legacy path instead (ParseSlideLegacy, ParseSlideSetLegacy,
// ParseFileSetLegacy), which runs RepairLegacyAttributes first and then the strict
// parser, and reports how many values it had to repair.

// RepairLegacyAttributes quotes the unquoted attribute values of start tags and
// escapes characters that may not appear raw in a quoted value ('<', and '&' that
// does not start a reference). Everything else — text, comments, CDATA, processing
// instructions, end tags, well-formed attributes — is copied byte for byte, so a
// well-formed document comes back unchanged. It returns the repaired document and
// the number of attribute values it changed.
//
// An unquoted value runs until the next attribute, recognised as whitespace
// followed by an XML name immediately followed by '=' (the legacy writer's
// "name=" with no space), or until the end of the tag ('>' or "/>"); trailing
// whitespace is dropped. Consequences, documented in docs/metadata.md: a value that
// itself contains " word=" is split there, a value cannot contain '>', and a value
// ending in '/' directly before '>' loses the '/' to an empty-element tag. Raw '&',
// '<' and '"' in unquoted values are taken literally (the legacy writer did not
// escape) and escaped in the output.
//
// It returns ErrMalformed for a start tag it cannot make sense of (an attribute
// without '=', an unterminated quoted value).
func RepairLegacyAttributes(src []byte) ([]byte, int, error) {
	var out bytes.Buffer
	out.Grow(len(src) + 64)
	repaired := 0
	i := 0
	for i < len(src) {
		if src[i] != '<' {
			j := bytes.IndexByte(src[i:], '<')
			if j < 0 {
				j = len(src) - i
			}
			out.Write(src[i : i+j])
			i += j
			continue
		}
		rest := src[i:]
		var end int
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			end = through(rest, "-->")
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end = through(rest, "]]>")
		case bytes.HasPrefix(rest, []byte("<?")):
			end = through(rest, "?>")
		case bytes.HasPrefix(rest, []byte("<!")), bytes.HasPrefix(rest, []byte("</")):
			end = through(rest, ">")
		default:
			n, fixed, err := repairStartTag(&out, src, i)
			if err != nil {
				return nil, 0, err
			}
			repaired += fixed
			i = n
			continue
		}
		out.Write(rest[:end])
		i += end
	}
	return out.Bytes(), repaired, nil
}

// through returns the length of rest up to and including the terminator, or all
// of it (the strict parser then reports the unterminated construct).
func through(rest []byte, term string) int {
	j := bytes.Index(rest[1:], []byte(term))
	if j < 0 {
		return len(rest)
	}
	return 1 + j + len(term)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isNameByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':', c >= 0x80:
		return true
	case c >= '0' && c <= '9', c == '-', c == '.':
		return !first
	}
	return false
}

// nameEnd returns the end of the XML name starting at i (i if there is none).
func nameEnd(src []byte, i int) int {
	j := i
	for j < len(src) && isNameByte(src[j], j == i) {
		j++
	}
	return j
}

// repairStartTag copies the start tag at src[i] to out, repairing attribute
// values, and returns the index after it.
func repairStartTag(out *bytes.Buffer, src []byte, i int) (int, int, error) {
	line := 1 + bytes.Count(src[:i], []byte{'\n'})
	fail := func(msg string) (int, int, error) {
		return 0, 0, &Error{Err: ErrMalformed, Line: line, Msg: "legacy repair: " + msg}
	}
	j := nameEnd(src, i+1)
	if j == i+1 { // "<" not followed by a name: leave it to the strict parser
		out.WriteByte('<')
		return i + 1, 0, nil
	}
	out.Write(src[i:j])
	fixed := 0
	for {
		k := j
		for k < len(src) && isSpace(src[k]) {
			k++
		}
		out.Write(src[j:k])
		j = k
		if j >= len(src) {
			return j, fixed, nil
		}
		if src[j] == '>' {
			out.WriteByte('>')
			return j + 1, fixed, nil
		}
		if src[j] == '/' && j+1 < len(src) && src[j+1] == '>' {
			out.WriteString("/>")
			return j + 2, fixed, nil
		}
		ne := nameEnd(src, j)
		if ne == j {
			return fail("unexpected character in a start tag")
		}
		out.Write(src[j:ne])
		j = ne
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j >= len(src) || src[j] != '=' {
			return fail("attribute without a value")
		}
		out.WriteByte('=')
		j++
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j < len(src) && (src[j] == '"' || src[j] == '\'') {
			q := src[j]
			e := bytes.IndexByte(src[j+1:], q)
			if e < 0 {
				return fail("unterminated quoted attribute value")
			}
			val := src[j+1 : j+1+e]
			if esc := escapeQuoted(val); !bytes.Equal(esc, val) {
				fixed++
				val = esc
			}
			out.WriteByte(q)
			out.Write(val)
			out.WriteByte(q)
			j += e + 2
			continue
		}
		start := j
		stop := unquotedEnd(src, j)
		val := bytes.TrimRight(src[start:stop], " \t\r\n")
		out.WriteByte('"')
		out.Write(escapeUnquoted(val))
		out.WriteByte('"')
		fixed++
		j = start + len(val)
	}
}

// nextAttr matches whitespace, an XML name and '=': the start of the next
// attribute inside an unquoted value.
var nextAttr = regexp.MustCompile(`^[ \t\r\n]+[A-Za-z_:\x80-\xff][-A-Za-z0-9_:.\x80-\xff]*=`)

func unquotedEnd(src []byte, j int) int {
	for k := j; k < len(src); k++ {
		switch {
		case src[k] == '>':
			return k
		case src[k] == '/' && k+1 < len(src) && src[k+1] == '>':
			return k
		case isSpace(src[k]) && nextAttr.Match(src[k:min(len(src), k+256)]):
			return k
		}
	}
	return len(src)
}

func escapeUnquoted(v []byte) []byte {
	var b bytes.Buffer
	for _, c := range v {
		switch c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteByte(c)
		}
	}
	return b.Bytes()
}

// reference matches an entity or character reference at the start of a value.
var reference = regexp.MustCompile(`^&(?:[A-Za-z_:][-A-Za-z0-9_:.]*|#[0-9]+|#x[0-9A-Fa-f]+);`)

// escapeQuoted escapes the raw '<' and stray '&' of a quoted value; references
// are kept.
func escapeQuoted(v []byte) []byte {
	if bytes.IndexByte(v, '<') < 0 && bytes.IndexByte(v, '&') < 0 {
		return v
	}
	var b bytes.Buffer
	for k := 0; k < len(v); k++ {
		switch {
		case v[k] == '<':
			b.WriteString("&lt;")
		case v[k] == '&' && !reference.Match(v[k:]):
			b.WriteString("&amp;")
		default:
			b.WriteByte(v[k])
		}
	}
	return b.Bytes()
}

// readAll reads a whole document, refusing more than MaxDocumentSize.
func readAll(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("metadata: reading document: %w", err)
	}
	if len(data) > MaxDocumentSize {
		return nil, &Error{Err: ErrTooLarge, Msg: "document exceeds MaxDocumentSize"}
	}
	return data, nil
}

func legacy(r io.Reader) (*bytes.Reader, int, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, 0, err
	}
	fixed, n, err := RepairLegacyAttributes(data)
	if err != nil {
		return nil, 0, err
	}
	return bytes.NewReader(fixed), n, nil
}

// ParseSlideLegacy imports a single slide element written by the original system:
// RepairLegacyAttributes, then ParseSlide. It also returns the number of attribute
// values that were repaired, for the caller to log.
func ParseSlideLegacy(r io.Reader) (Slide, int, error) {
	fixed, n, err := legacy(r)
	if err != nil {
		return nil, 0, err
	}
	s, err := ParseSlide(fixed)
	return s, n, err
}

// ParseSlideSetLegacy is ParseSlideLegacy for a whole slide set document.
func ParseSlideSetLegacy(r io.Reader) (*SlideSet, int, error) {
	fixed, n, err := legacy(r)
	if err != nil {
		return nil, 0, err
	}
	s, err := ParseSlideSet(fixed)
	return s, n, err
}

// ParseFileSetLegacy is ParseSlideLegacy for a handout document.
func ParseFileSetLegacy(r io.Reader) (*FileSet, int, error) {
	fixed, n, err := legacy(r)
	if err != nil {
		return nil, 0, err
	}
	f, err := ParseFileSet(fixed)
	return f, n, err
}
