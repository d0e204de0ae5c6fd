package metadata

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of the parser. Metadata documents are small (the original kept at most a
// few thousand slides per set); the limits stop a hostile or corrupt file from
// exhausting memory or the stack.
const (
	MaxDocumentSize = 64 << 20 // bytes
	MaxDepth        = 256      // element nesting
	// MaxNodes bounds the elements, text runs and comments of a document read. Each
	// costs far more memory parsed than its bytes (an "<a/>" of 4 bytes, about a
	// kilobyte through parse, model and encoding): 8 MiB of empty elements took 1.9 GB
	// to load. A set of 5,000 slides, indented, with an annotation on each, has about
	// 40,000 nodes.
	MaxNodes = 250_000
	// MaxWriteNodes bounds what is written (see CheckWritable): below MaxNodes, so that
	// every document written can be read again, and a document imported from
	// elsewhere between the two still opens (and can be made smaller).
	MaxWriteNodes = 100_000
)

// CheckWritable reports ErrTooLarge when the encoded document has more than
// MaxWriteNodes nodes, counted as the parser counts them. A writer calls it before it
// stores a document: a document the parser refuses could never be read, changed or
// shrunk again.
func CheckWritable(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	nodes, inText, depth := 0, false, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &Error{Err: ErrMalformed, Msg: safeSyntaxMsg(err.Error())}
		}
		switch tok.(type) {
		case xml.CharData:
			if depth > 0 && !inText {
				nodes++ // adjacent pieces form one run, as in parseTree
			}
			inText = depth > 0
			continue
		case xml.StartElement:
			depth++
			nodes++
		case xml.EndElement:
			depth--
		case xml.Comment:
			nodes++
		}
		inText = false
		if nodes > MaxWriteNodes {
			return &Error{Err: ErrTooLarge, Msg: fmt.Sprintf("more than %d elements, text runs and comments (MaxWriteNodes)", MaxWriteNodes)}
		}
	}
}

// NodeType says what a preserved Node is.
type NodeType uint8

// Node types.
const (
	ElementNode NodeType = iota + 1
	TextNode
	CommentNode
)

// Node is XML this package does not interpret, kept so it can be written back
// unchanged: an unknown child element (with its whole subtree), a comment, or —
// inside an unknown element only — text. Names keep their raw prefix in
// Name.Space ("x" for <x:foo>), not a namespace URL.
type Node struct {
	Type     NodeType
	Name     xml.Name   // ElementNode
	Attrs    []xml.Attr // ElementNode, in document order
	Children []Node     // ElementNode
	Data     string     // TextNode (unescaped text), CommentNode (comment body)

	// Anchor places a preserved child among the known children of the element that
	// holds it: k > 0 means "just before the k-th known child, counted in the order
	// the encoder writes them"; 0 means "after the known children". The parser sets
	// it so that a document is written back in its original order; it is 0 for
	// nodes inside preserved subtrees and may be left 0 by code that adds nodes.
	Anchor int
}

// elem is the parse tree: like an element Node, plus its input position so that
// model errors can say where they are.
type elem struct {
	name      xml.Name
	attrs     []xml.Attr
	kids      []item
	line, col int
}

// item is one child of an elem: an element, or text/comment data.
type item struct {
	typ  NodeType
	el   *elem
	data string
}

// limitReader counts bytes so that exceeding MaxDocumentSize is reported as
// ErrTooLarge rather than as a truncated (malformed) document.
type limitReader struct {
	r        io.Reader
	left     int64
	exceeded bool
	readErr  error // the last error of r other than io.EOF
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe one byte: only a real byte past the limit is an excess.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.exceeded = true
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		l.readErr = err
	}
	return n, err
}

// parseTree reads one XML document strictly and returns its root element.
//
// It uses encoding/xml's RawToken rather than Token because Token rewrites
// namespace prefixes into URLs, which would lose the original spelling of unknown
// prefixed attributes; RawToken does not check that end tags match, so the tag
// stack is checked here. encoding/xml also accepts duplicate attributes, which XML
// forbids; those are rejected here too.
func parseTree(r io.Reader) (*elem, error) {
	lr := &limitReader{r: r, left: MaxDocumentSize}
	d := xml.NewDecoder(skipBOM(lr))
	var root *elem
	var stack []*elem
	var text strings.Builder // pending text run of the innermost open element
	nodes := 0
	tooMany := func(line, col int) error {
		return &Error{Err: ErrTooLarge, Line: line, Column: col, Msg: "more elements, text runs and comments than MaxNodes"}
	}
	for {
		line, col := d.InputPos()
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			if lr.exceeded || errors.Is(err, ErrTooLarge) {
				return nil, &Error{Err: ErrTooLarge, Msg: "document exceeds MaxDocumentSize"}
			}
			if lr.readErr != nil && errors.Is(err, lr.readErr) {
				// The reader failed (I/O), the document may be fine: not ErrMalformed.
				return nil, fmt.Errorf("metadata: reading document: %w", err)
			}
			l, c := d.InputPos()
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &Error{Err: ErrMalformed, Line: se.Line, Column: c, Msg: safeSyntaxMsg(se.Msg)}
			}
			return nil, &Error{Err: ErrMalformed, Line: l, Column: c, Msg: safeSyntaxMsg(err.Error())}
		}
		if _, isText := tok.(xml.CharData); !isText && text.Len() > 0 {
			if nodes++; nodes > MaxNodes {
				return nil, tooMany(line, col)
			}
			p := stack[len(stack)-1] // text is only collected inside an element
			p.kids = append(p.kids, item{typ: TextNode, data: text.String()})
			text.Reset()
		}
		malformed := func(msg string) error {
			return &Error{Err: ErrMalformed, Line: line, Column: col, Msg: msg}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && root != nil {
				return nil, malformed("a second root element")
			}
			if len(stack) >= MaxDepth {
				return nil, &Error{Err: ErrTooLarge, Line: line, Column: col, Msg: "elements nested deeper than MaxDepth"}
			}
			if nodes++; nodes > MaxNodes {
				return nil, tooMany(line, col)
			}
			if err := checkDuplicateAttrs(t.Attr); err != "" {
				return nil, malformed("duplicate attribute " + err)
			}
			e := &elem{name: t.Name, line: line, col: col}
			if len(t.Attr) > 0 { // nil, not empty: models compare with reflect.DeepEqual
				e.attrs = t.Attr
			}
			if len(stack) == 0 {
				root = e
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, item{typ: ElementNode, el: e})
			}
			stack = append(stack, e)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, malformed("end tag without start tag")
			}
			if top := stack[len(stack)-1]; top.name != t.Name {
				return nil, malformed("end tag </" + qname(t.Name) + "> does not match <" + qname(top.name) + ">")
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, malformed("text outside the root element")
				}
				continue
			}
			// Adjacent text and CDATA form one text run; a builder keeps a run of
			// many small pieces linear rather than quadratic.
			text.Write(t)
			continue
		case xml.Comment:
			if nodes++; nodes > MaxNodes {
				return nil, tooMany(line, col)
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, item{typ: CommentNode, data: string(t)})
			}
		case xml.ProcInst:
			// The XML declaration and processing instructions carry nothing the model
			// needs; the encoder writes its own declaration.
		case xml.Directive:
			return nil, &Error{Err: ErrInvalid, Line: line, Column: col, Msg: "DOCTYPE and other directives are not accepted"}
		}
	}
	if len(stack) > 0 {
		l, c := d.InputPos()
		return nil, &Error{Err: ErrMalformed, Line: l, Column: c, Msg: "input ends inside <" + qname(stack[len(stack)-1].name) + ">"}
	}
	if root == nil {
		return nil, &Error{Err: ErrMalformed, Line: 1, Msg: "no root element"}
	}
	return root, nil
}

// safeSyntaxMsg cuts encoding/xml's message before any quoted input: its message
// for a bad entity reference quotes the text after '&', which may be part of a key.
func safeSyntaxMsg(msg string) string {
	if i := strings.IndexByte(msg, '&'); i >= 0 {
		return msg[:i] + "(reference not shown)"
	}
	return msg
}

// skipBOM drops a leading UTF-8 byte order mark, which Windows tools like to write
// and encoding/xml rejects as text before the root.
func skipBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(3); bytes.Equal(head, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	return br
}

func checkDuplicateAttrs(attrs []xml.Attr) string {
	if len(attrs) > 16 { // avoid quadratic work on hostile tags
		seen := make(map[xml.Name]bool, len(attrs))
		for _, a := range attrs {
			if seen[a.Name] {
				return qname(a.Name)
			}
			seen[a.Name] = true
		}
		return ""
	}
	for i := 1; i < len(attrs); i++ {
		for j := 0; j < i; j++ {
			if attrs[i].Name == attrs[j].Name {
				return qname(attrs[i].Name)
			}
		}
	}
	return ""
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// is reports whether e is the unprefixed element local.
func (e *elem) is(local string) bool { return e.name.Space == "" && e.name.Local == local }

// toNode converts a parse-tree element into a preserved Node.
func (e *elem) toNode() Node {
	n := Node{Type: ElementNode, Name: e.name, Attrs: e.attrs}
	for _, k := range e.kids {
		n.Children = append(n.Children, k.toNode())
	}
	return n
}

func (k item) toNode() Node {
	if k.typ == ElementNode {
		return k.el.toNode()
	}
	return Node{Type: k.typ, Data: k.data}
}

// structuredKids splits the children of an element whose content is elements only
// (a slide set, a slide, a fileset): elements are returned for interpretation,
// comments are kept, whitespace between elements is dropped, and any other text
// is an error.
func structuredKids(e *elem) (elems []*elem, comments []Node, err error) {
	for _, k := range e.kids {
		switch k.typ {
		case ElementNode:
			elems = append(elems, k.el)
		case CommentNode:
			comments = append(comments, Node{Type: CommentNode, Data: k.data})
		case TextNode:
			if strings.TrimSpace(k.data) != "" {
				return nil, nil, invalidf(e, "", "unexpected text between child elements")
			}
		}
	}
	return elems, comments, nil
}

// preservedKids returns the children of a structured element that known() does
// not claim, as Nodes in document order with their Anchor set, and the known child
// elements. Whitespace between children is dropped; other text is an error.
func preservedKids(e *elem, known func(*elem) bool) (kept []Node, knownKids []*elem, err error) {
	elems, _, err := structuredKids(e)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range elems {
		if known(k) {
			knownKids = append(knownKids, k)
		}
	}
	seen := 0
	for _, k := range e.kids {
		var n Node
		switch {
		case k.typ == ElementNode && known(k.el):
			seen++
			continue
		case k.typ == ElementNode:
			n = k.el.toNode()
		case k.typ == CommentNode:
			n = Node{Type: CommentNode, Data: k.data}
		default:
			continue
		}
		if seen < len(knownKids) {
			n.Anchor = seen + 1
		}
		kept = append(kept, n)
	}
	return kept, knownKids, nil
}

func noKnownKids(*elem) bool { return false }

// textContent returns the text of an element whose content is text only
// (question, choice, current-text, ann). Comments inside it are dropped; child
// elements are an error.
func textContent(e *elem) (string, error) {
	var b strings.Builder
	for _, k := range e.kids {
		switch k.typ {
		case ElementNode:
			return "", invalidf(e, "", "child element <%s> inside a text-only element", qname(k.el.name))
		case TextNode:
			b.WriteString(k.data)
		}
	}
	return b.String(), nil
}
