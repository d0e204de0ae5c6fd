package layout

import (
	"errors"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

func TestOrganizerHashIsStableAndNormalised(t *testing.T) {
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"identical", "sip:vw01@contoso.com", "sip:vw01@contoso.com", true},
		{"case and space folded", "sip:VW01@Contoso.com ", "sip:vw01@contoso.com", true},
		{"different organizers", "sip:vw01@contoso.com", "sip:vw02@contoso.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha, hb := OrganizerHash(tt.a), OrganizerHash(tt.b)
			if (ha == hb) != tt.same {
				t.Fatalf("OrganizerHash(%q)=%s, OrganizerHash(%q)=%s, want same=%v", tt.a, ha, tt.b, hb, tt.same)
			}
			if err := ValidateOrganizerHash(ha); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A fixed vector, so that the documented hash never changes by accident.
	if got, want := OrganizerHash("sip:vw01@rtcdev.contoso.microsoft.com"), "ad9d3361d676ba7f33f8b2a4ed91c818"; got != want {
		t.Fatalf("OrganizerHash = %s, want %s", got, want)
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) error
		input string
		ok    bool
	}{
		{"conference ok", ValidateConferenceID, "board-2026", true},
		{"conference upper", ValidateConferenceID, "Board", false},
		{"conference traversal", ValidateConferenceID, "..", false},
		{"conference leading dash", ValidateConferenceID, "-a", false},
		{"conference too long", ValidateConferenceID, string(make([]byte, 65)), false},
		{"content ok", ValidateContentName, "x0123456789abcdef0123456789abcdef.epng", true},
		{"content blb", ValidateContentName, "0123456789abcdef0123456789abcdef.blb", true},
		{"content legacy 12 hex", ValidateContentName, "x8d51284585d1.epng", false},
		{"content slash", ValidateContentName, "x0123456789abcdef0123456789abcdef.e/png", false},
		{"set id ok", ValidateSetID, "aab", true},
		{"set id digits", ValidateSetID, "a1b", false},
		{"org hash short", ValidateOrganizerHash, "abc", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.input)
			if tt.ok != (err == nil) {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error %v is not ErrInvalidID", err)
			}
		})
	}
}

func TestKeysAreValidStorageKeys(t *testing.T) {
	c := Conference{OrgHash: OrganizerHash("sip:a@b"), ID: "conf-1"}
	for _, k := range []string{
		c.ConferenceFile(), c.ContentKey("x0123456789abcdef0123456789abcdef.epng"),
		c.CompliancePrefix() + "set-aaa.xml", IndexKey(c.ID),
	} {
		if err := storage.ValidateKey(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}
