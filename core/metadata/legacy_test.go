package metadata

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRepairSeedDemoSlide(t *testing.T) {
	src := readTestdata(t, "demo.xml")
	got, n, err := RepairLegacyAttributes(src)
	if err != nil {
		t.Fatal(err)
	}
	want := `<demo-slide name="Command Prompt - vw01" recording-id="" ` +
		`createdby="sip:vw01@rtcdev.nttest.microsoft.com [vw01]" ` +
		`shareProcInfo="sip:vw01@rtcdev.nttest.contoso.com - 01C7E74B9137AC70" ` +
		`shareHwnd="262300" shareSpeed="1" sharePid="4592" slideHotKey="19" slideColor="24" ` +
		`shareTitle="Command Prompt" slideCtrl="1" shareType="1"> </demo-slide>`
	if string(got) != want || n != 2 {
		t.Errorf("repaired %d:\n%s\nwant 2:\n%s", n, got, want)
	}
	s, err := ParseSlide(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	d := s.(*DemoSlide)
	if d.CreatedBy != "sip:vw01@rtcdev.nttest.microsoft.com [vw01]" ||
		d.ShareProcInfo != "sip:vw01@rtcdev.nttest.contoso.com - 01C7E74B9137AC70" ||
		d.ShareHwnd != 262300 || d.SharePid != 4592 || d.SlideColor != 24 || d.ShareTitle != "Command Prompt" ||
		d.ShareSpeed != 1 || d.SlideHotKey != 19 || d.SlideCtrl != 1 || d.ShareType != 1 || len(d.Extra) != 0 {
		t.Errorf("%+v", d)
	}
}

func TestRepairLeavesWellFormedInputAlone(t *testing.T) {
	docs := []string{
		`<a x="1" y='2'>text with = signs and a=b <![CDATA[ <x y=z> ]]><!-- c=d <e f=g> --><?pi a=b?></a>`,
		"<?xml version=\"1.0\"?>\n<slideset name=\"&amp;&#x41;&lt;\"><web-slide url='a\"b'/></slideset>",
	}
	for _, f := range []string{"poll.xml", "text.xml", "web.xml", "whiteboard.xml", "snapshot.xml", "word.xml", "fileset.xml"} {
		docs = append(docs, string(readTestdata(t, f)))
	}
	for _, d := range docs {
		got, n, err := RepairLegacyAttributes([]byte(d))
		if err != nil || n != 0 || string(got) != d {
			t.Errorf("changed a well-formed document (%d, %v):\n%s\n%s", n, err, d, got)
		}
	}
}

func TestRepairCases(t *testing.T) {
	cases := []struct {
		name, in, want string
		n              int
	}{
		{"unquoted at end of tag", `<a b=x>`, `<a b="x">`, 1},
		{"unquoted before empty-element end", `<a b=x/>`, `<a b="x"/>`, 1},
		{"trailing space dropped", `<a b=x y  >`, `<a b="x y"  >`, 1},
		{"next attribute starts a new value", `<a b=one two c="3" d=four>`, `<a b="one two" c="3" d="four">`, 2},
		{"equals not after a name stays in the value", `<a b=x = y c=1>`, `<a b="x = y" c="1">`, 2},
		{"raw specials escaped", `<a b=x&y<z"w>`, `<a b="x&amp;y&lt;z&quot;w">`, 1},
		{"empty unquoted value", `<a b= >`, `<a b="">`, 1},
		{"quoted value with raw < and stray &", `<a b="1<2 & 3 &amp; &#65;">`, `<a b="1&lt;2 &amp; 3 &amp; &#65;">`, 1},
		{"text untouched", `<a>b=c d=e</a>`, `<a>b=c d=e</a>`, 0},
		{"nested tags", "<s>\n <w u=http://x/y?q=1 v=2></w></s>", "<s>\n <w u=\"http://x/y?q=1\" v=\"2\"></w></s>", 2},
		{"less-than in text left to the parser", `<a>1 < 2</a>`, `<a>1 < 2</a>`, 0},
	}
	for _, tc := range cases {
		got, n, err := RepairLegacyAttributes([]byte(tc.in))
		if err != nil || string(got) != tc.want || n != tc.n {
			t.Errorf("%s: %q, %d, %v; want %q, %d", tc.name, got, n, err, tc.want, tc.n)
		}
	}
}

func TestRepairRefuses(t *testing.T) {
	for _, in := range []string{`<a b>`, `<a b="x>`, `<a "b">`, `<a b c=1>`} {
		_, _, err := RepairLegacyAttributes([]byte(in))
		var e *Error
		if !errors.Is(err, ErrMalformed) || !errors.As(err, &e) || e.Line != 1 {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestLegacyImportPaths(t *testing.T) {
	set := `<slideset name="s" createdby=sip:a@b [a]>` + string(readTestdata(t, "demo.xml")) + `</slideset>`
	if _, err := ParseSlideSet(strings.NewReader(set)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("strict: %v", err)
	}
	s, n, err := ParseSlideSetLegacy(strings.NewReader(set))
	if err != nil || n != 3 || s.CreatedBy != "sip:a@b [a]" || len(s.Slides) != 1 || s.Slides[0].Kind() != KindDemo {
		t.Fatalf("legacy: %v %d %+v", err, n, s)
	}
	f, n, err := ParseFileSetLegacy(strings.NewReader(`<fileset name=a8f5689f4866.blb size=37 key=48d9dd6ebe2ca367478da698493edc21 original_filename=my file.txt/>`))
	if err != nil || n != 4 || f.OriginalFilename != "my file.txt" || f.Size != 37 {
		t.Fatalf("legacy fileset: %v %d %+v", err, n, f)
	}
	// The repair does not make an invalid model valid.
	if _, _, err := ParseSlideLegacy(strings.NewReader(`<image-slide name=x image=../x.epng key=00>`)); !errors.Is(err, ErrMalformed) {
		// unterminated element: still malformed after repair
		t.Errorf("unclosed: %v", err)
	}
	if _, _, err := ParseSlideLegacy(strings.NewReader(`<image-slide name=x image=../x.epng key=00/>`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad ref: %v", err)
	}
}
