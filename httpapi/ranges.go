package httpapi

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// RangeSpecs returns the range specs of a byte Range header value ("bytes=…"),
// without the empty list elements RFC 9110 §5.6.1 allows ("bytes=0-1, ,5-6,,"),
// each trimmed. ok is false when the value is not a byte range (call NormalizeRange
// first for the unit's case). The specs themselves are not checked.
func RangeSpecs(h string) (specs []string, ok bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return nil, false
	}
	for s := range strings.SplitSeq(spec, ",") {
		if s = textproto.TrimString(s); s != "" {
			specs = append(specs, s)
		}
	}
	return specs, true
}

// isZeroSuffix reports whether a range spec is a suffix range of length zero
// ("-0"), which RFC 9110 §14.1.1 counts as unsatisfiable: http.ServeContent takes it
// for an empty range and answers 206 with no body.
func isZeroSuffix(spec string) bool {
	n, ok := strings.CutPrefix(spec, "-")
	if !ok {
		return false
	}
	v, err := strconv.ParseUint(textproto.TrimString(n), 10, 64)
	return err == nil && v == 0
}

// prepareRange rewrites the request's byte Range header, once the size is known, so
// that http.ServeContent, which evaluates the preconditions (If-None-Match, If-Range,
// …) before it looks at the Range, answers what RFC 9110 asks:
//
//   - empty list elements are dropped before ranges are counted;
//   - more than maxRanges ranges become one range that starts at the end, so that
//     ServeContent answers 416 with the size when it would honour the Range, and
//     still 304, 412, or 200 for a stale If-Range, when it would not. The message
//     of that 416 is returned (empty otherwise);
//   - a suffix range of length zero becomes such a range too, so that it is
//     unsatisfiable; the other ranges of the header still count.
//
// A header without any range spec is left as it is.
func prepareRange(h http.Header, size int64, maxRanges int) (message string) {
	specs, ok := RangeSpecs(h.Get("Range"))
	if !ok || len(specs) == 0 {
		return ""
	}
	pastEnd := strconv.FormatInt(size, 10) + "-"
	if len(specs) > maxRanges {
		h.Set("Range", "bytes="+pastEnd)
		return "at most " + strconv.Itoa(maxRanges) + " ranges per request"
	}
	for i, s := range specs {
		if isZeroSuffix(s) {
			specs[i] = pastEnd
		}
	}
	h.Set("Range", "bytes="+strings.Join(specs, ","))
	return ""
}
