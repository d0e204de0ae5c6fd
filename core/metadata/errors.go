package metadata

import (
	"errors"
	"fmt"
)

// Error categories, matched with errors.Is.
var (
	// ErrMalformed: the input is not well-formed XML (unquoted attribute values,
	// mismatched tags, duplicate attributes, text outside the root…). The legacy
	// import path (ParseSlideLegacy and friends) can repair one class of it.
	ErrMalformed = errors.New("metadata: malformed XML")
	// ErrInvalid: well-formed XML that breaks the model (wrong root element, an
	// annotation that is not hex, a content reference that is not a valid name/key
	// pair, a number that is not a number, a duplicate slide id…), or a model that
	// cannot be encoded.
	ErrInvalid = errors.New("metadata: invalid document")
	// ErrTooLarge: the document exceeds MaxDocumentSize or MaxDepth.
	ErrTooLarge = errors.New("metadata: document too large")
	// ErrNotFound: a slide operation named a slide id the set does not hold.
	ErrNotFound = errors.New("metadata: slide not found")
)

// Error is a classified metadata error with the position it was found at. Err is one
// of the category sentinels. Values of attributes are never included: some of them
// are keys.
type Error struct {
	Err     error  // ErrMalformed, ErrInvalid, ErrTooLarge or ErrNotFound
	Line    int    // 1-based input line, 0 when not about input
	Column  int    // 1-based input column, 0 when unknown
	Element string // local name of the element concerned, if any
	Attr    string // attribute concerned, if any
	Msg     string // what is wrong
}

func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Line > 0 {
		s += fmt.Sprintf(" at line %d", e.Line)
		if e.Column > 0 {
			s += fmt.Sprintf(", column %d", e.Column)
		}
	}
	if e.Element != "" {
		s += " in <" + e.Element + ">"
	}
	if e.Attr != "" {
		s += " attribute " + e.Attr
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Unwrap returns the category sentinel so that errors.Is works.
func (e *Error) Unwrap() error { return e.Err }

// invalidf builds an ErrInvalid error about an element of the parse tree.
func invalidf(el *elem, attr, format string, args ...any) error {
	e := &Error{Err: ErrInvalid, Attr: attr, Msg: fmt.Sprintf(format, args...)}
	if el != nil {
		e.Line, e.Column, e.Element = el.line, el.col, el.name.Local
	}
	return e
}

// encodeErr builds an ErrInvalid error about a model that cannot be encoded.
func encodeErr(element, attr, format string, args ...any) error {
	return &Error{Err: ErrInvalid, Element: element, Attr: attr, Msg: fmt.Sprintf(format, args...)}
}
