package metadata

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func addSeedCorpus(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	for _, p := range append(files, golden...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<conference id="c" organizer="sip:o@x" created="1" kek-id="k" wrapped-master-key="AAEC"/>`))
	f.Add([]byte(`<slideset name="s" createdby="c"><media-slide media="x8d51284585d1.emedia" media-key="a51fe0f3e26813761e12435a9c2c5d89"><chunk name="x8d51284585d2.emedia" key="a51fe0f3e26813761e12435a9c2c5d89" size="5"/></media-slide><x:y xmlns:x="u">t<!--c--></x:y></slideset>`))
}

// roundTrip checks that a model that parsed encodes, and parses back equal.
func roundTrip[T any](t *testing.T, what string, v T, marshal func(T) ([]byte, error), parse func([]byte) (T, error)) {
	t.Helper()
	out, err := marshal(v)
	if err != nil {
		t.Fatalf("%s parsed but does not encode: %v", what, err)
	}
	again, err := parse(out)
	if err != nil {
		t.Fatalf("%s: own output does not parse: %v\n%s", what, err, out)
	}
	if !reflect.DeepEqual(v, again) {
		t.Fatalf("%s: round trip differs\n%#v\n%#v\n%s", what, v, again, out)
	}
}

func FuzzParse(f *testing.F) {
	addSeedCorpus(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := UnmarshalSlideSet(data); err == nil {
			roundTrip(t, "slide set", s, (*SlideSet).Marshal, UnmarshalSlideSet)
		}
		if fs, err := UnmarshalFileSet(data); err == nil {
			roundTrip(t, "fileset", fs, (*FileSet).Marshal, UnmarshalFileSet)
		}
		if c, err := UnmarshalConference(data); err == nil {
			roundTrip(t, "conference", c, (*Conference).Marshal, UnmarshalConference)
		}
		marshalSlide := func(s Slide) ([]byte, error) {
			var b bytes.Buffer
			err := EncodeSlide(&b, s)
			return b.Bytes(), err
		}
		parseSlide := func(b []byte) (Slide, error) { return ParseSlide(bytes.NewReader(b)) }
		if s, err := parseSlide(data); err == nil {
			roundTrip(t, "slide", s, marshalSlide, parseSlide)
		}
		fixed, _, err := RepairLegacyAttributes(data)
		if err == nil {
			if s, err := parseSlide(fixed); err == nil {
				roundTrip(t, "repaired slide", s, marshalSlide, parseSlide)
			}
		}
	})
}
