package metadata

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	key64 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	name  = "x0123456789abcdef0123456789abcdef.epng"
	blob  = "0123456789abcdef0123456789abcdef.blb"
)

func TestValidateNewRefs(t *testing.T) {
	cases := []struct {
		ref          ContentRef
		content, blb bool // valid as new content / new handout
	}{
		{ContentRef{name, key64}, true, false},
		{ContentRef{"x0123456789abcdef0123456789abcdef.emedia", key64}, true, false},
		{ContentRef{blob, key64}, false, true},
		{ContentRef{"x8d51284585d1.epng", key64}, false, false},                     // legacy name
		{ContentRef{name, "a51fe0f3e26813761e12435a9c2c5d89"}, false, false},        // legacy key
		{ContentRef{"a8f5689f4866.blb", key64}, false, false},                       // legacy blob
		{ContentRef{name, strings.ToUpper(key64)}, false, false},                    // keys are lowercase
		{ContentRef{"X0123456789ABCDEF0123456789ABCDEF.EPNG", key64}, false, false}, // names are lowercase
		{ContentRef{"../0123456789abcdef0123456789abcdef.blb", key64}, false, false},
		{ContentRef{"x0123456789abcdef0123456789abcdef.png", key64}, false, false}, // no .e
		{ContentRef{"x0123456789abcdef0123456789abcdef.e", key64}, false, false},
		{ContentRef{name + "\n", key64}, false, false},
		{ContentRef{}, false, false},
	}
	for _, tc := range cases {
		if err := ValidateNewContentRef(tc.ref); (err == nil) != tc.content || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateNewContentRef(%s) = %v", tc.ref.Name, err)
		}
		if err := ValidateNewHandoutRef(tc.ref); (err == nil) != tc.blb {
			t.Errorf("ValidateNewHandoutRef(%s) = %v", tc.ref.Name, err)
		}
	}
}

func TestNameHelpers(t *testing.T) {
	var id [16]byte
	for i := range id {
		id[i] = byte(i * 17)
	}
	var k [32]byte
	k[31] = 1
	r := ContentRef{Name: ContentName(id, "ppt"), Key: KeyString(k)}
	if err := ValidateNewContentRef(r); err != nil || r.Name != "x00112233445566778899aabbccddeeff.eppt" {
		t.Errorf("%s: %v", r.Name, err)
	}
	if err := ValidateNewHandoutRef(ContentRef{Name: HandoutName(id), Key: KeyString(k)}); err != nil {
		t.Error(err)
	}
}

func TestStoredRefsOnLoad(t *testing.T) {
	cases := []struct {
		attrs string
		ok    bool
	}{
		{`image="x8d51284585d1.epng" key="a51fe0f3e26813761e12435a9c2c5d89"`, true},
		{`image="` + name + `" key="` + key64 + `"`, true},
		{`image="x8d51284585d1.epng" key="A51FE0F3E26813761E12435A9C2C5D89"`, true}, // legacy keys in either case
		{`image="x8d51284585d1.epng"`, false},                                       // half a pair
		{`key="a51fe0f3e26813761e12435a9c2c5d89"`, false},
		{`image="../../etc/passwd" key="a51fe0f3e26813761e12435a9c2c5d89"`, false},
		{`image="x8d51284585d1.epng" key="a51fe0f3"`, false},
		{`image="` + blob + `" key="` + key64 + `"`, false}, // a blob name is not slide content
		{`document="x9838edc7b0d2.emdi" document-key="zz"`, false},
		{`thumbnail-image="" thumbnail-key=""`, false},
	}
	for _, tc := range cases {
		_, err := ParseSlide(strings.NewReader(`<image-slide name="n" ` + tc.attrs + `/>`))
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", tc.attrs, err)
		}
		if err != nil && strings.Contains(err.Error(), "a51fe0f3") {
			t.Errorf("error message leaks the key: %v", err)
		}
	}
}

func TestContentRefHidesKey(t *testing.T) {
	r := ContentRef{Name: name, Key: key64}
	for _, s := range []string{r.String(), fmt.Sprint(r), fmt.Sprintf("%v %+v %#v", r, r, r), fmt.Sprintf("%v", []ContentRef{r})} {
		if strings.Contains(s, key64) || !strings.Contains(s, name) {
			t.Errorf("%q", s)
		}
	}
}
