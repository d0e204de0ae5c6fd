package metastore

import (
	"bytes"
	"errors"
	"testing"
)

func TestIDs(t *testing.T) {
	tests := []struct {
		n  uint64
		id string
	}{
		{0, "aaa"}, {1, "aab"}, {25, "aaz"}, {26, "aba"}, {17575, "zzz"},
		{17576, "aaaa"}, {17577, "aaab"}, {17576 + 456975, "zzzz"}, {17576 + 456976, "aaaaa"},
	}
	for _, tc := range tests {
		if got := FormatID(tc.n); got != tc.id {
			t.Errorf("FormatID(%d) = %q, want %q", tc.n, got, tc.id)
		}
		if got, ok := ParseID(tc.id); !ok || got != tc.n {
			t.Errorf("ParseID(%q) = %d, %v; want %d", tc.id, got, ok, tc.n)
		}
	}
	for n := uint64(0); n < 20000; n += 7 {
		if back, ok := ParseID(FormatID(n)); !ok || back != n {
			t.Fatalf("round trip of %d gave %d", n, back)
		}
	}
	for _, bad := range []string{"", "a", "aa", "AAA", "aa1", "a-a", "s-aaa", "aaaaaaaaaaaaa", "ä"} {
		if _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

func TestEnvelope(t *testing.T) {
	e := envelope{magic: magicSnapshot, op: 0, gen: 42, name: "set-abc", data: []byte("<set/>")}
	b := e.encode()
	got, err := decodeEnvelope(b, magicSnapshot)
	if err != nil || got.gen != 42 || got.name != "set-abc" || !bytes.Equal(got.data, e.data) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	tests := []struct {
		name  string
		b     []byte
		magic string
	}{
		{"empty", nil, magicSnapshot},
		{"header only", b[:envelopeHeader], magicSnapshot},
		{"truncated data", b[:len(b)-1], magicSnapshot},
		{"trailing byte", append(bytes.Clone(b), 0), magicSnapshot},
		{"other file type", b, magicJournal},
		{"name length past end", append(bytes.Clone(b[:13]), 0xff, 0xff), magicSnapshot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeEnvelope(tc.b, tc.magic); !errors.Is(err, errBadEnvelope) {
				t.Fatalf("decode: %v, want errBadEnvelope", err)
			}
		})
	}
}

func TestDocKeys(t *testing.T) {
	tests := []struct {
		kind            Kind
		key             string
		id              string
		backup, matches bool
	}{
		{SlideSet, "set-abc.exml", "abc", false, true},
		{SlideSet, "set-s-abc.exml", "abc", true, true},
		{SlideSet, "set-abc.xml", "", false, false},
		{SlideSet, "set-ab.exml", "", false, false},
		{Handout, "ft/fileset-aaaa.exml", "aaaa", false, true},
		{Handout, "ft/fileset-s-aaaa.exml", "aaaa", true, true},
		{Handout, "set-abc.exml", "", false, false},
	}
	for _, tc := range tests {
		id, backup, ok := parseDocKey(tc.kind, tc.key)
		if ok != tc.matches || id != tc.id || backup != tc.backup {
			t.Errorf("parseDocKey(%v, %q) = %q, %v, %v", tc.kind, tc.key, id, backup, ok)
		}
	}
	d := Doc{Kind: Handout, ID: "abc"}
	if d.PrimaryKey() != "ft/fileset-abc.exml" || d.BackupKey() != "ft/fileset-s-abc.exml" || MaxIDKey(Handout) != "ft/FTMaxID" {
		t.Errorf("handout keys: %s %s %s", d.PrimaryKey(), d.BackupKey(), MaxIDKey(Handout))
	}
	if got, err := parseDocName(d.String()); err != nil || got != d {
		t.Errorf("parseDocName(%q) = %v, %v", d.String(), got, err)
	}
}
