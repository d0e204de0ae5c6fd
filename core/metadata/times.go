package metadata

import (
	"errors"
	"math"
	"time"
)

// The seeds carry three spellings of time (see docs/metadata.md, "Times"):
//
//   - Unix milliseconds (UploadedOn="1188069617459");
//   - Windows FILETIME: 100 ns ticks since 1601-01-01 UTC (creation_date);
//   - display strings "M/D/YYYY h:mm AM|PM" (the …Date attributes).
//
// The numbers are authoritative; display strings are derived and rewritten from the
// number on save, in UTC.

// fileTimeUnixEpoch is 1970-01-01 in FILETIME ticks.
const fileTimeUnixEpoch = 116444736000000000

// DisplayLayout is the display-string layout of the seeds ("8/25/2007 12:20 PM").
const DisplayLayout = "1/2/2006 3:04 PM"

var errFileTimeRange = errors.New("time outside the FILETIME range (1601 to 30828)")

// FromUnixMillis converts Unix milliseconds to a UTC time.
func FromUnixMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// FromFileTime converts FILETIME ticks (100 ns since 1601-01-01 UTC) to a UTC time.
// The arithmetic stays in ticks because ticks × 100 ns overflows int64 nanoseconds
// for every date after 1893.
func FromFileTime(ticks int64) time.Time {
	rel := ticks - fileTimeUnixEpoch // cannot overflow: ticks >= 0 on load
	sec := rel / 1e7
	rem := rel % 1e7
	if rem < 0 {
		sec--
		rem += 1e7
	}
	return time.Unix(sec, rem*100).UTC()
}

// ToFileTime converts a time to FILETIME ticks, truncating below 100 ns.
func ToFileTime(t time.Time) (int64, error) {
	sec := t.Unix()
	const minSec = -fileTimeUnixEpoch / 1e7
	maxSec := (math.MaxInt64 - fileTimeUnixEpoch) / 1e7
	if sec < minSec || sec > int64(maxSec) {
		return 0, errFileTimeRange
	}
	ticks := sec*1e7 + int64(t.Nanosecond()/100) + fileTimeUnixEpoch
	if ticks < 0 {
		return 0, errFileTimeRange
	}
	return ticks, nil
}

// DisplayTime formats t the way the seeds' …Date attributes look, in UTC.
func DisplayTime(t time.Time) string { return t.UTC().Format(DisplayLayout) }

// Millis returns t as the documents store Unix-millisecond times: truncated to the
// millisecond, in UTC. Set model times through it so that an in-memory model equals
// the one read back from its own document.
func Millis(t time.Time) time.Time { return FromUnixMillis(t.UnixMilli()) }
