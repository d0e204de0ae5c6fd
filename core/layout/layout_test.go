package layout

import (
	"errors"
	"regexp"
	"strings"
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

// The reference forms of the identifiers; layout.go checks them by hand.
var (
	conferenceIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	orgHashPattern      = regexp.MustCompile(`^[0-9a-f]{32}$`)
	contentNamePattern  = regexp.MustCompile(`^(x[0-9a-f]{32}\.e[a-z0-9]{1,8}|[0-9a-f]{32}\.blb)$`)
	setIDPattern        = regexp.MustCompile(`^[a-z]{3,12}$`)
)

// FuzzValidatorsMatchTheirPatterns checks the hand-written validators against the
// regular expressions that define them. The seeds cover each form's edges; `go test`
// runs them, `go test -fuzz FuzzValidators ./core/layout` explores further.
func FuzzValidatorsMatchTheirPatterns(f *testing.F) {
	hex32 := "0123456789abcdef0123456789abcdef"
	for _, s := range []string{
		"", "a", "-", "a-", "-a", "0", strings.Repeat("a", 64), strings.Repeat("a", 65), "Demo", "dé",
		hex32, hex32[:31], hex32 + "0", strings.ToUpper(hex32), hex32[:31] + "g",
		"x" + hex32 + ".epdf", "x" + hex32 + ".e", "x" + hex32 + ".e12345678", "x" + hex32 + ".e123456789",
		"x" + hex32 + ".ePDF", "x" + hex32 + "xepdf", "y" + hex32 + ".epdf", hex32 + ".blb", hex32 + ".blbx",
		"x" + hex32[:31] + ".epdf", "x" + hex32 + ".e-df", hex32 + ".BLB", "x" + hex32 + ".blb",
		"aaa", "aa", "abcdefghijkl", "abcdefghijklm", "aab1", "AAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			name    string
			pattern *regexp.Regexp
			check   func(string) error
		}{
			{"conference id", conferenceIDPattern, ValidateConferenceID},
			{"organizer hash", orgHashPattern, ValidateOrganizerHash},
			{"content name", contentNamePattern, ValidateContentName},
			{"set id", setIDPattern, ValidateSetID},
		} {
			if want, got := c.pattern.MatchString(s), c.check(s) == nil; want != got {
				t.Errorf("%s %q: pattern says %v, validator says %v", c.name, s, want, got)
			}
		}
	})
}
