// Package duration parses the durations Lectern's commands take on their command lines
// and in their configuration: Go's spellings ("90s", "5m", "336h") and whole days
// ("14d"), since retention and token lifetimes are counted in days. lecternd's
// configuration (cmd/lecternd/config.go, Duration.Set) and the lectern CLI both parse
// with it, so that one spelling works for both commands.
//
// It must not know the commands or what their durations mean (limits such as a
// token's longest lifetime are the caller's).
package duration

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid classifies a string that is not a duration.
var ErrInvalid = errors.New("invalid duration")

// invalid is a Parse error: its text names the string and shows the spellings, and it
// matches ErrInvalid.
type invalid struct{ msg string }

func (e invalid) Error() string        { return e.msg }
func (e invalid) Is(target error) bool { return target == ErrInvalid }

// maxDays bounds the day form, far above any lifetime Lectern accepts, so that the
// product in nanoseconds cannot overflow.
const maxDays = 100 * 365

// Parse parses "90s", "5m", "336h" (anything time.ParseDuration takes) or a whole,
// non-negative number of days such as "14d". Days do not combine with other units.
func Parse(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > maxDays {
			return 0, invalid{fmt.Sprintf("%q is not a duration (days are a whole number from 0 to %d, e.g. 14d)", s, maxDays)}
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, invalid{fmt.Sprintf("%q is not a duration (e.g. 90s, 5m, 12h, 14d)", s)}
	}
	return v, nil
}

// Format spells d the way Parse reads it back: whole days as "14d", zero as "0" (which
// help texts take for an unset default), else Go's form.
func Format(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Value is a command-line flag value (pflag.Value and flag.Value) holding a duration
// read with Parse.
type Value time.Duration

// String implements flag.Value.
func (v *Value) String() string { return Format(time.Duration(*v)) }

// Set implements flag.Value.
func (v *Value) Set(s string) error {
	d, err := Parse(s)
	if err != nil {
		return err
	}
	*v = Value(d)
	return nil
}

// Type implements pflag.Value; it names the value in help texts.
func (v *Value) Type() string { return "duration" }
