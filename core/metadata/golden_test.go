package metadata

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current encoder")

// seedSlides are the seeds' slide examples, copied verbatim from
// /work/shared/seeds/002_*.txt into testdata/.
var seedSlides = []struct {
	file   string
	kind   Kind
	legacy bool // not well-formed: only the legacy import path reads it
}{
	{"poll.xml", KindPoll, false},
	{"text.xml", KindText, false},
	{"web.xml", KindWeb, false},
	{"whiteboard.xml", KindWhiteboard, false},
	{"snapshot.xml", KindSnapshot, false},
	{"word.xml", KindWord, false},
	{"demo.xml", KindDemo, true},
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares out with testdata/<name>.golden (rewritten under -update).
func checkGolden(t *testing.T, name string, out []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update once)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("%s: output differs from golden file\ngot:\n%s\nwant:\n%s", name, out, want)
	}
}

func TestGoldenSeedSlides(t *testing.T) {
	for _, tc := range seedSlides {
		t.Run(tc.file, func(t *testing.T) {
			src := readTestdata(t, tc.file)
			strict, err := ParseSlide(bytes.NewReader(src))
			if tc.legacy {
				var me *Error
				if !errors.Is(err, ErrMalformed) || !errors.As(err, &me) || me.Line != 1 || me.Column == 0 {
					t.Fatalf("strict parse of a not well-formed seed: got %v, want ErrMalformed with line 1 and a column", err)
				}
			} else if err != nil {
				t.Fatalf("strict parse: %v", err)
			}

			s, repaired, err := ParseSlideLegacy(bytes.NewReader(src))
			if err != nil {
				t.Fatalf("legacy parse: %v", err)
			}
			if tc.legacy != (repaired > 0) {
				t.Errorf("repaired %d values; legacy=%v", repaired, tc.legacy)
			}
			if !tc.legacy && !reflect.DeepEqual(s, strict) {
				t.Errorf("legacy path and strict path disagree on a well-formed seed")
			}
			if s.Kind() != tc.kind {
				t.Errorf("kind %v, want %v", s.Kind(), tc.kind)
			}

			var out bytes.Buffer
			if err := EncodeSlide(&out, s); err != nil {
				t.Fatal(err)
			}
			again, err := ParseSlide(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatalf("reparse of our own output: %v\n%s", err, out.Bytes())
			}
			if !reflect.DeepEqual(s, again) {
				t.Errorf("round trip changed the slide:\n%#v\n%#v", s, again)
			}
			fixed, _, err := RepairLegacyAttributes(src)
			if err != nil {
				t.Fatal(err)
			}
			assertNothingLost(t, fixed, out.Bytes(), nil)
			checkGolden(t, strings.TrimSuffix(tc.file, ".xml"), out.Bytes())
		})
	}
}

func TestGoldenSeedFileSet(t *testing.T) {
	src := readTestdata(t, "fileset.xml")
	f, err := ParseFileSet(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := FileSet{
		Blob:             ContentRef{Name: "a8f5689f4866.blb", Key: "48d9dd6ebe2ca367478da698493edc21"},
		Size:             37,
		Uploaded:         FromUnixMillis(1188069617459),
		UploadedBy:       "sip:vw01@rtcdev.contoso.microsoft.com",
		OriginalFilename: "test.txt",
		Created:          FromFileTime(128325431784134388),
		Modified:         FromFileTime(128325431917125620),
	}
	if !reflect.DeepEqual(*f, want) {
		t.Fatalf("parsed %#v\nwant %#v", *f, want)
	}
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := UnmarshalFileSet(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, again) {
		t.Errorf("round trip changed the handout")
	}
	// The display strings are derived: rewritten in UTC from the numbers (the
	// seed's were local time, and CreatedOnDate/ModifiedOnDate were garbage).
	derived := map[string]string{
		"UploadedOnDate": "8/25/2007 7:20 PM",
		"CreatedOnDate":  "8/25/2007 7:19 PM",
		"ModifiedOnDate": "8/25/2007 7:19 PM",
	}
	assertNothingLost(t, src, out, derived)
	checkGolden(t, "fileset", out)
}

// assertNothingLost checks that every element of orig (matched in order among the
// children of its counterpart) appears in out with every one of its attributes and
// the same value — except the attributes in derived, which must have the given
// value — and that text-only elements keep their text (annotation hex compared
// case-insensitively after trimming, as the model decodes it).
func assertNothingLost(t reporter, orig, out []byte, derived map[string]string) {
	t.Helper()
	o, err := parseTree(bytes.NewReader(orig))
	if err != nil {
		t.Errorf("original: %v", err)
		return
	}
	n, err := parseTree(bytes.NewReader(out))
	if err != nil {
		t.Errorf("output: %v", err)
		return
	}
	compareElem(t, o, n, derived, qname(o.name))
}

func compareElem(t reporter, o, n *elem, derived map[string]string, path string) {
	t.Helper()
	if o.name != n.name {
		t.Errorf("%s: element became <%s>", path, qname(n.name))
		return
	}
	for _, a := range o.attrs {
		var got *string
		for i := range n.attrs {
			if n.attrs[i].Name == a.Name {
				got = &n.attrs[i].Value
			}
		}
		want := a.Value
		if d, ok := derived[a.Name.Local]; ok {
			want = d
		}
		switch {
		case got == nil:
			t.Errorf("%s: attribute %s lost", path, qname(a.Name))
		case *got != want:
			t.Errorf("%s: attribute %s = %q, want %q", path, qname(a.Name), *got, want)
		}
	}
	var ok, nk []*elem
	var otext, ntext strings.Builder
	for _, k := range o.kids {
		if k.typ == ElementNode {
			ok = append(ok, k.el)
		} else if k.typ == TextNode {
			otext.WriteString(k.data)
		}
	}
	for _, k := range n.kids {
		if k.typ == ElementNode {
			nk = append(nk, k.el)
		} else if k.typ == TextNode {
			ntext.WriteString(k.data)
		}
	}
	if len(ok) == 0 {
		ot, nt := otext.String(), ntext.String()
		if o.is("ann") {
			ot, nt = strings.ToLower(strings.TrimSpace(ot)), strings.ToLower(strings.TrimSpace(nt))
		} else if len(nk) > 0 || len(o.kids) == 0 || strings.TrimSpace(ot) == "" {
			ot, nt = strings.TrimSpace(ot), strings.TrimSpace(nt)
		}
		if ot != nt {
			t.Errorf("%s: text %q became %q", path, ot, nt)
		}
	}
	j := 0
	for _, c := range ok {
		for j < len(nk) && nk[j].name != c.name {
			j++
		}
		if j == len(nk) {
			t.Errorf("%s: child <%s> lost", path, qname(c.name))
			return
		}
		compareElem(t, c, nk[j], derived, path+"/"+qname(c.name))
		j++
	}
}

// TestGoldenSeedsInSet puts every seed slide into one set, saves it and reloads it.
func TestGoldenSeedsInSet(t *testing.T) {
	set := &SlideSet{Name: "seeds", CreatedBy: "sip:vw01@rtcdev.nttest.contoso.com [vw01]",
		Created: FromUnixMillis(1188069617459)}
	for _, tc := range seedSlides {
		s, _, err := ParseSlideLegacy(bytes.NewReader(readTestdata(t, tc.file)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := set.Append(s); err != nil {
			t.Fatal(err)
		}
	}
	out, err := set.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := UnmarshalSlideSet(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set, again) {
		t.Errorf("round trip changed the set")
	}
	checkGolden(t, "seeds-set", out)
	refs := again.ContentRefs()
	// snapshot: image + thumbnail; word: image + thumbnail + document.
	if len(refs) != 5 {
		t.Errorf("content refs: %d, want 5", len(refs))
	}
}

// reporter is the part of testing.T the loss check uses, so that the check itself
// can be tested with a recorder.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

type recorder struct{ msgs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// TestNothingLostCheckDetectsLoss proves the golden check can fail.
func TestNothingLostCheckDetectsLoss(t *testing.T) {
	orig := `<image-slide name="a" b="1"><ann COLOR="0">0a0b</ann><x y="2"/></image-slide>`
	cases := []struct{ name, out string }{
		{"attribute lost", `<image-slide name="a"><ann COLOR="0">0a0b</ann><x y="2"/></image-slide>`},
		{"value changed", `<image-slide name="a" b="2"><ann COLOR="0">0a0b</ann><x y="2"/></image-slide>`},
		{"child lost", `<image-slide name="a" b="1"><ann COLOR="0">0a0b</ann></image-slide>`},
		{"child attribute lost", `<image-slide name="a" b="1"><ann COLOR="0">0a0b</ann><x/></image-slide>`},
		{"annotation changed", `<image-slide name="a" b="1"><ann COLOR="0">0a0c</ann><x y="2"/></image-slide>`},
	}
	for _, tc := range cases {
		var r recorder
		assertNothingLost(&r, []byte(orig), []byte(tc.out), nil)
		if len(r.msgs) == 0 {
			t.Errorf("%s: not detected", tc.name)
		}
	}
	var r recorder
	assertNothingLost(&r, []byte(orig), []byte(`<image-slide b="1" name="a" extra="z"><ann COLOR="0">0A0B</ann><new/><x y="2"/></image-slide>`), nil)
	if len(r.msgs) != 0 {
		t.Errorf("false alarm: %v", r.msgs)
	}
}
