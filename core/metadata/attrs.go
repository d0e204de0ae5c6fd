package metadata

import (
	"encoding/xml"
	"strconv"
	"strings"
	"time"
)

// attrReader hands out the known attributes of one element and remembers which
// ones were taken; the rest become the element's Extra attributes, in order.
//
// Preservation rule for optional attributes: the model writes an optional
// attribute only when its field is not the zero value. So that a present-but-zero
// value (page-number="0", slideset-name="") is not lost, such an attribute is left
// untaken on load and therefore kept verbatim among the Extra attributes; the
// encoder writes Extra attributes after the known ones and skips any whose name a
// known attribute already used, so setting the field later simply wins.
type attrReader struct {
	el   *elem
	used []bool
	err  error
}

func newAttrReader(el *elem) *attrReader {
	return &attrReader{el: el, used: make([]bool, len(el.attrs))}
}

func (a *attrReader) fail(attr, format string, args ...any) {
	if a.err == nil {
		a.err = invalidf(a.el, attr, format, args...)
	}
}

// find returns the index of the unprefixed attribute name, or -1.
func (a *attrReader) find(name string) int {
	for i, at := range a.el.attrs {
		if at.Name.Space == "" && at.Name.Local == name {
			return i
		}
	}
	return -1
}

// str takes an attribute that is always written (absent reads as "").
func (a *attrReader) str(name string) string {
	i := a.find(name)
	if i < 0 {
		return ""
	}
	a.used[i] = true
	return a.el.attrs[i].Value
}

// has reports whether the attribute is present.
func (a *attrReader) has(name string) bool { return a.find(name) >= 0 }

// optStr takes an optional string attribute; "" is left as an extra.
func (a *attrReader) optStr(name string) string {
	i := a.find(name)
	if i < 0 || a.el.attrs[i].Value == "" {
		return ""
	}
	a.used[i] = true
	return a.el.attrs[i].Value
}

func parseInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return v, err == nil
}

// int takes an integer attribute that is always written (absent reads as 0).
func (a *attrReader) int(name string) int64 {
	i := a.find(name)
	if i < 0 {
		return 0
	}
	v, ok := parseInt(a.el.attrs[i].Value)
	if !ok {
		a.fail(name, "not an integer")
		return 0
	}
	a.used[i] = true
	return v
}

// optInt takes an optional integer attribute; a zero value is left as an extra.
func (a *attrReader) optInt(name string) int64 {
	i := a.find(name)
	if i < 0 {
		return 0
	}
	v, ok := parseInt(a.el.attrs[i].Value)
	if !ok {
		a.fail(name, "not an integer")
		return 0
	}
	if v != 0 {
		a.used[i] = true
	}
	return v
}

// optDecimal takes an optional decimal attribute kept as its text (for example
// thumbnail-aspect="1.33333337", whose spelling a float round trip would change).
func (a *attrReader) optDecimal(name string) string {
	i := a.find(name)
	if i < 0 || a.el.attrs[i].Value == "" {
		return ""
	}
	if _, err := strconv.ParseFloat(a.el.attrs[i].Value, 64); err != nil {
		a.fail(name, "not a decimal number")
		return ""
	}
	a.used[i] = true
	return a.el.attrs[i].Value
}

// bool takes a "true"/"false" attribute (any letter case, as .NET wrote both).
func (a *attrReader) bool(name string) bool {
	i := a.find(name)
	if i < 0 {
		return false
	}
	a.used[i] = true
	switch strings.ToLower(strings.TrimSpace(a.el.attrs[i].Value)) {
	case "true":
		return true
	case "false":
		return false
	}
	a.fail(name, "not true or false")
	return false
}

// unixMillis takes an optional Unix-milliseconds time and, when it is present, the
// derived display attribute (which is then rewritten from the number on save). A
// display attribute without its number stays as an extra.
func (a *attrReader) unixMillis(name, display string) time.Time {
	i := a.find(name)
	if i < 0 {
		return time.Time{}
	}
	v, ok := parseInt(a.el.attrs[i].Value)
	if !ok {
		a.fail(name, "not a Unix time in milliseconds")
		return time.Time{}
	}
	a.used[i] = true
	if display != "" {
		a.str(display)
	}
	return FromUnixMillis(v)
}

// fileTime is unixMillis for Windows FILETIME ticks.
func (a *attrReader) fileTime(name, display string) time.Time {
	i := a.find(name)
	if i < 0 {
		return time.Time{}
	}
	v, ok := parseInt(a.el.attrs[i].Value)
	if !ok || v < 0 {
		a.fail(name, "not a Windows FILETIME (non-negative 100 ns ticks since 1601)")
		return time.Time{}
	}
	a.used[i] = true
	if display != "" {
		a.str(display)
	}
	return FromFileTime(v)
}

// ref takes a content reference pair. Both halves must be present or both absent.
func (a *attrReader) ref(nameAttr, keyAttr string, kind refKind) ContentRef {
	in, ik := a.find(nameAttr), a.find(keyAttr)
	if in < 0 && ik < 0 {
		return ContentRef{}
	}
	if in < 0 || ik < 0 {
		a.fail(nameAttr, "content reference needs both %s and %s", nameAttr, keyAttr)
		return ContentRef{}
	}
	r := ContentRef{Name: a.el.attrs[in].Value, Key: a.el.attrs[ik].Value}
	if err := validateStoredRef(r, kind); err != nil {
		a.fail(nameAttr, "%v", err)
		return ContentRef{}
	}
	a.used[in], a.used[ik] = true, true
	return r
}

// extras returns the attributes not taken, in document order.
func (a *attrReader) extras() []xml.Attr {
	var out []xml.Attr
	for i, at := range a.el.attrs {
		if !a.used[i] {
			out = append(out, at)
		}
	}
	return out
}

// attrWriter collects the attributes of one element for writing: known ones in a
// fixed order, then the extras, never the same name twice.
type attrWriter struct {
	elem  string
	attrs []xml.Attr
	err   error
}

func (w *attrWriter) add(name, value string) {
	w.attrs = append(w.attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
}

func (w *attrWriter) optStr(name, value string) {
	if value != "" {
		w.add(name, value)
	}
}

func (w *attrWriter) int(name string, v int64) { w.add(name, strconv.FormatInt(v, 10)) }

func (w *attrWriter) optInt(name string, v int64) {
	if v != 0 {
		w.int(name, v)
	}
}

func (w *attrWriter) bool(name string, v bool) { w.add(name, strconv.FormatBool(v)) }

func (w *attrWriter) optDecimal(name, v string) {
	if v == "" {
		return
	}
	if _, err := strconv.ParseFloat(v, 64); err != nil && w.err == nil {
		w.err = encodeErr(w.elem, name, "not a decimal number")
	}
	w.add(name, v)
}

func (w *attrWriter) unixMillis(name, display string, t time.Time) {
	if t.IsZero() {
		return
	}
	w.int(name, t.UnixMilli())
	if display != "" {
		w.add(display, DisplayTime(t))
	}
}

func (w *attrWriter) fileTime(name, display string, t time.Time) {
	if t.IsZero() {
		return
	}
	ft, err := ToFileTime(t)
	if err != nil {
		if w.err == nil {
			w.err = encodeErr(w.elem, name, "%v", err)
		}
		return
	}
	w.int(name, ft)
	if display != "" {
		w.add(display, DisplayTime(t))
	}
}

func (w *attrWriter) ref(nameAttr, keyAttr string, kind refKind, r ContentRef) {
	if r.IsZero() {
		return
	}
	if err := validateStoredRef(r, kind); err != nil {
		if w.err == nil {
			w.err = encodeErr(w.elem, nameAttr, "%v", err)
		}
		return
	}
	w.add(nameAttr, r.Name)
	w.add(keyAttr, r.Key)
}

// extras appends the preserved attributes, skipping names already written (a known
// field that was set wins over a preserved zero value of the same name).
func (w *attrWriter) extras(extra []xml.Attr) {
	for _, e := range extra {
		dup := false
		for _, a := range w.attrs {
			if a.Name == e.Name {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if !validName(qname(e.Name)) {
			if w.err == nil {
				w.err = encodeErr(w.elem, "", "extra attribute has an invalid name")
			}
			continue
		}
		w.attrs = append(w.attrs, e)
	}
}
