package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// invalidKeys are refused by every operation with ErrInvalidArgument before any I/O.
var invalidKeys = []struct{ name, key string }{
	{"empty", ""},
	{"dot_dot", ".."},
	{"dot", "."},
	{"dot_dot_segment", "a/../b"},
	{"dot_segment", "a/./b"},
	{"leading_dot_segment", "a/.hidden"},
	{"absolute", "/a/b"},
	{"trailing_slash", "a/b/"},
	{"empty_segment", "a//b"},
	{"backslash", `a\b`},
	{"backslash_dot_dot", `..\a`},
	{"nul_byte", "a\x00b"},
	{"newline", "a\nb"},
	{"tab", "a\tb"},
	{"delete_char", "a\x7fb"},
	{"space", "a b"},
	{"non_ascii", "caf\u00e9"},
	{"over_long", strings.Repeat("k/", storage.MaxKeyLength/2) + "k"},
	{"over_long_segment", strings.Repeat("s", storage.MaxSegmentLength+1)},
}

func keyChecks() []check {
	var cs []check
	for _, k := range invalidKeys {
		cs = append(cs, check{"invalid_" + k.name, func(t *testing.T, e *env) { invalidKey(t, e, k.key) }})
	}
	return append(cs,
		check{"invalid_list_prefix", invalidListPrefix},
		check{"odd_but_valid_names", oddValidNames},
		check{"longest_key", longestKey},
		check{"longest_segment", longestSegment},
		check{"deep_nesting", deepNesting},
		check{"case_sensitive", caseSensitive},
		check{"case_insensitive_aliases", caseInsensitive},
		check{"key_and_prefix_of_key", keyAndPrefixOfKey},
	)
}

// invalidKey checks that every operation refuses key with ErrInvalidArgument and that
// nothing was created as a side effect.
func invalidKey(t *testing.T, e *env, key string) {
	_, err := e.b.PutBytes(e.ctx, key, []byte("x"), storage.Condition{})
	wantKind(t, err, storage.ErrInvalidArgument, "Put")
	if e.caps.ConditionalCreate {
		_, err = e.b.PutBytes(e.ctx, key, []byte("x"), storage.Condition{IfNotExists: true})
		wantKind(t, err, storage.ErrInvalidArgument, "Put(IfNotExists)")
	}
	rc, _, err := e.b.Get(e.ctx, key, 0, -1)
	if err == nil {
		rc.Close()
	}
	wantKind(t, err, storage.ErrInvalidArgument, "Get")
	_, err = e.b.Stat(e.ctx, key)
	wantKind(t, err, storage.ErrInvalidArgument, "Stat")
	wantKind(t, e.b.Delete(e.ctx, key), storage.ErrInvalidArgument, "Delete")
	e.wantKeys(e.b, "")
}

func invalidListPrefix(t *testing.T, e *env) {
	e.put("a/b", []byte("x"))
	for _, p := range []string{"/a", "..", "a/../", `a\`, "a\x00", "a//", "./a"} {
		_, err := listAll(e.ctx, e.b, p)
		wantKind(t, err, storage.ErrInvalidArgument, "List("+strings.ReplaceAll(p, "\x00", `\x00`)+")")
	}
}

// oddValidNames stores keys made of every allowed punctuation, in places where naive
// backends trip (a dot inside or at the end of a segment, a tilde, a dash first).
func oddValidNames(t *testing.T, e *env) {
	keys := []string{"a.b", "a..b", "a.", "-a", "_a", "~a", "a~b/c-d_e.f", "0", "A-Z.a_z~09", "x/y.z/w"}
	for _, k := range keys {
		e.put(k, []byte("v:"+k))
	}
	for _, k := range keys {
		e.wantContent(e.b, k, []byte("v:"+k))
	}
	if got := e.keys(e.b, ""); len(got) != len(keys) {
		t.Fatalf("List(\"\") has %d keys %q, want %d", len(got), got, len(keys))
	}
}

func maxKeyLength(e *env) int {
	if e.caps.MaxKeyLength > 0 {
		return e.caps.MaxKeyLength
	}
	return storage.MaxKeyLength
}

func longestKey(t *testing.T, e *env) {
	limit := maxKeyLength(e)
	// Segments of at most 100 bytes: the full length without tripping the segment limit.
	segLimit := storage.MaxSegmentLength
	if e.caps.MaxSegmentLength > 0 {
		segLimit = e.caps.MaxSegmentLength
	}
	var segs []string
	total := 0
	for {
		sep := min(len(segs), 1)
		room := limit - total - sep
		if room <= 0 {
			break
		}
		n := min(100, room, segLimit-1) // -1: the last segment may grow by one below
		segs = append(segs, strings.Repeat("L", n))
		total += sep + n
	}
	if total < limit { // one byte short, for want of room for another slash
		segs[len(segs)-1] += strings.Repeat("L", limit-total)
	}
	key := strings.Join(segs, "/")
	e.put(key, []byte("long"))
	e.wantContent(e.b, key, []byte("long"))
	e.wantKeys(e.b, "", key)
	_, err := e.b.PutBytes(e.ctx, key+"L", []byte("x"), storage.Condition{})
	wantKind(t, err, storage.ErrInvalidArgument, "Put of a key one byte over the limit")
	e.wantKeys(e.b, "", key)
}

func longestSegment(t *testing.T, e *env) {
	limit := storage.MaxSegmentLength
	if e.caps.MaxSegmentLength > 0 {
		limit = e.caps.MaxSegmentLength
	}
	key := "d/" + strings.Repeat("s", limit)
	if len(key) > maxKeyLength(e) {
		t.Skipf("backend's key limit %d is below a full segment", maxKeyLength(e))
	}
	e.put(key, []byte("seg"))
	e.wantContent(e.b, key, []byte("seg"))
	_, err := e.b.PutBytes(e.ctx, key+"s", []byte("x"), storage.Condition{})
	wantKind(t, err, storage.ErrInvalidArgument, "Put of a segment one byte over the limit")
}

func deepNesting(t *testing.T, e *env) {
	key := strings.Repeat("d/", 40) + "leaf"
	e.put(key, []byte("deep"))
	e.wantContent(e.b, key, []byte("deep"))
	e.wantKeys(e.b, "d/d/", key)
	if err := e.b.Delete(e.ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.wantKeys(e.b, "")
}

func caseSensitive(t *testing.T, e *env) {
	if e.caps.CaseInsensitive {
		t.Skip("backend declares CaseInsensitive")
	}
	e.put("case/Key", []byte("upper"))
	e.put("case/key", []byte("lower"))
	e.wantContent(e.b, "case/Key", []byte("upper"))
	e.wantContent(e.b, "case/key", []byte("lower"))
	e.wantKeys(e.b, "case/", "case/Key", "case/key")
}

// caseInsensitive: on a backend that declares CaseInsensitive, keys differing only in
// case name one object, and a put under either spelling replaces it.
func caseInsensitive(t *testing.T, e *env) {
	if !e.caps.CaseInsensitive {
		t.Skip("backend does not declare CaseInsensitive")
	}
	e.put("case/Key", []byte("upper"))
	e.wantContent(e.b, "case/key", []byte("upper"))
	e.put("case/KEY", []byte("again"))
	e.wantContent(e.b, "case/key", []byte("again"))
	if got := e.keys(e.b, "case/"); len(got) != 1 {
		t.Fatalf("List(%q) = %q, want one object", "case/", got)
	}
}

// keyAndPrefixOfKey stores "a" and "a/b" together, in both orders. Object stores hold
// both; a FileTree backend (a folder cannot hold a file and a directory of one name)
// must refuse the second put with ErrInvalidArgument and leave everything as it was.
func keyAndPrefixOfKey(t *testing.T, e *env) {
	for _, order := range [][2]string{{"p/a", "p/a/b"}, {"q/a/b", "q/a"}} {
		first, second := order[0], order[1]
		e.put(first, []byte("first"))
		_, err := e.b.PutBytes(e.ctx, second, []byte("second"), storage.Condition{})
		if e.caps.FileTree {
			wantKind(t, err, storage.ErrInvalidArgument, fmt.Sprintf("Put(%q) beside %q on a FileTree backend", second, first))
			e.wantMissing(e.b, second)
			e.wantKeys(e.b, first[:2], first)
		} else {
			if err != nil {
				t.Fatalf("Put(%q) beside %q: %v (a backend that cannot hold both must declare FileTree)", second, first, err)
			}
			e.wantContent(e.b, second, []byte("second"))
		}
		e.wantContent(e.b, first, []byte("first"))
	}
}

// treeSafe drops, on a FileTree backend, the keys of a check's set that only serve to
// make one key the parent of another; the rest of the check stays the same.
func treeSafe(e *env, keys []string, parentOnly ...string) []string {
	if !e.caps.FileTree {
		return keys
	}
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return slices.Contains(parentOnly, k) })
}
