package metadata

import (
	"fmt"
	"testing"
	"time"
)

func TestSeedTimes(t *testing.T) {
	cases := []struct {
		name    string
		got     time.Time
		want    time.Time
		display string
	}{
		{"UploadedOn ms", FromUnixMillis(1188069617459),
			time.Date(2007, 8, 25, 19, 20, 17, 459e6, time.UTC), "8/25/2007 7:20 PM"},
		{"creation_date FILETIME", FromFileTime(128325431784134388),
			time.Date(2007, 8, 25, 19, 19, 38, 413438800, time.UTC), "8/25/2007 7:19 PM"},
		{"modification_date FILETIME", FromFileTime(128325431917125620),
			time.Date(2007, 8, 25, 19, 19, 51, 712562000, time.UTC), "8/25/2007 7:19 PM"},
		{"FILETIME zero is 1601", FromFileTime(0), time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), "1/1/1601 12:00 AM"},
		{"FILETIME of the Unix epoch", FromFileTime(116444736000000000), time.Unix(0, 0).UTC(), "1/1/1970 12:00 AM"},
		{"FILETIME just before 1970", FromFileTime(116444735999999999),
			time.Date(1969, 12, 31, 23, 59, 59, 999999900, time.UTC), "12/31/1969 11:59 PM"},
		{"ms before 1970", FromUnixMillis(-1), time.Date(1969, 12, 31, 23, 59, 59, 999e6, time.UTC), "12/31/1969 11:59 PM"},
	}
	for _, tc := range cases {
		if !tc.got.Equal(tc.want) || tc.got.Location() != time.UTC {
			t.Errorf("%s: %v, want %v (UTC)", tc.name, tc.got, tc.want)
		}
		if d := DisplayTime(tc.got); d != tc.display {
			t.Errorf("%s: display %q, want %q", tc.name, d, tc.display)
		}
	}
}

func TestFileTimeBothWays(t *testing.T) {
	for _, ticks := range []int64{0, 1, 9999999, 116444736000000000, 116444735999999999,
		128325431784134388, 128325431917125620, 1<<63 - 1} {
		got, err := ToFileTime(FromFileTime(ticks))
		if err != nil || got != ticks {
			t.Errorf("FILETIME %d -> %d, %v", ticks, got, err)
		}
	}
	for _, ms := range []int64{0, 1188069617459, -1, -62135596800000, 253402300799999} {
		if got := FromUnixMillis(ms).UnixMilli(); got != ms {
			t.Errorf("ms %d -> %d", ms, got)
		}
	}
	// Below 100 ns is truncated, not rounded.
	if got, _ := ToFileTime(time.Unix(0, 199).UTC()); got != 116444736000000001 {
		t.Errorf("truncation: %d", got)
	}
	for _, bad := range []time.Time{
		time.Date(1600, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(30829, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if _, err := ToFileTime(bad); err == nil {
			t.Errorf("ToFileTime(%v) accepted a time outside the FILETIME range", bad)
		}
	}
}

// legacyDisplay reproduces what the original system did to produce the seed's
// display strings: it treated the value as Unix milliseconds, formatted it in the
// server's local time (US Pacific), and printed only the last four digits of the
// year. Applied to FILETIME ticks this gives the seed's "1/18/8441 5:22 PM".
func legacyDisplay(ms int64, zone *time.Location) string {
	t := time.UnixMilli(ms).In(zone)
	h := t.Hour() % 12
	if h == 0 {
		h = 12
	}
	ampm := "AM"
	if t.Hour() >= 12 {
		ampm = "PM"
	}
	return fmt.Sprintf("%d/%d/%04d %d:%02d %s", int(t.Month()), t.Day(), t.Year()%10000, h, t.Minute(), ampm)
}

// TestLegacyDisplayBugExplained pins down the explanation of the seed's odd
// CreatedOnDate/ModifiedOnDate given in docs/metadata.md.
func TestLegacyDisplayBugExplained(t *testing.T) {
	pdt := time.FixedZone("PDT", -7*3600) // August
	pst := time.FixedZone("PST", -8*3600) // January
	cases := []struct {
		value int64
		zone  *time.Location
		seed  string
	}{
		{1188069617459, pdt, "8/25/2007 12:20 PM"},     // UploadedOnDate: correct, local time
		{128325431784134388, pst, "1/18/8441 5:22 PM"}, // CreatedOnDate: ticks read as ms
		{128325431917125620, pst, "1/20/8441 6:18 AM"}, // ModifiedOnDate: ticks read as ms
	}
	for _, tc := range cases {
		if got := legacyDisplay(tc.value, tc.zone); got != tc.seed {
			t.Errorf("%d: %q, seed has %q", tc.value, got, tc.seed)
		}
	}
	// The full year is 4068441: the value read as milliseconds is four million
	// years after 1970.
	if y := time.UnixMilli(128325431784134388).UTC().Year(); y != 4068441 {
		t.Errorf("year %d", y)
	}
}

func TestDisplayStringsIgnoredOnRead(t *testing.T) {
	doc := `<fileset name="a8f5689f4866.blb" size="1" key="48d9dd6ebe2ca367478da698493edc21" UploadedOnDate="garbage" UploadedOn="0" creation_date="0" CreatedOnDate="1/18/8441 5:22 PM"/>`
	f, err := UnmarshalFileSet([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Uploaded.Equal(time.Unix(0, 0)) || !f.Created.Equal(time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("numbers not authoritative: %v %v", f.Uploaded, f.Created)
	}
	if len(f.Extra) != 0 {
		t.Errorf("derived display strings kept as extras: %v", f.Extra)
	}
	// Without its number, a display string is not derived data: it is kept.
	f, err = UnmarshalFileSet([]byte(`<fileset name="a8f5689f4866.blb" size="1" key="48d9dd6ebe2ca367478da698493edc21" ModifiedOnDate="1/20/8441 6:18 AM"/>`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Extra) != 1 || f.Extra[0].Name.Local != "ModifiedOnDate" || !f.Modified.IsZero() {
		t.Errorf("lone display string: extras %v, modified %v", f.Extra, f.Modified)
	}
	// Setting the time later replaces it with the derived one, written once.
	f.Modified = FromFileTime(128325431917125620)
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFileSet(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !g.Modified.Equal(f.Modified) || len(g.Extra) != 0 {
		t.Errorf("after setting: %v %v", g.Modified, g.Extra)
	}
}

func TestMillis(t *testing.T) {
	now := time.Date(2026, 11, 22, 13, 27, 37, 123456789, time.FixedZone("CET", 3600))
	m := Millis(now)
	if m.Location() != time.UTC || m.Nanosecond() != 123000000 || !m.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("%v", m)
	}
	c := &Conference{ID: "c", Organizer: "o", KEKID: "k", WrappedMasterKey: []byte{1}, Created: m}
	out, _ := c.Marshal()
	back, err := UnmarshalConference(out)
	if err != nil || back.Created != m {
		t.Errorf("%v %v", back.Created, err)
	}
}
