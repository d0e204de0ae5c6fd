package duration

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"5m", 5 * time.Minute, true},
		{"12h", 12 * time.Hour, true},
		{"8760h", 365 * day, true},
		{"1h30m", 90 * time.Minute, true},
		{"14d", 14 * day, true},
		{"365d", 365 * day, true},
		{"0d", 0, true},
		{"0", 0, true},
		{"36500d", 36500 * day, true},
		{"36501d", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"1d12h", 0, false},
		{"d", 0, false},
		{"", 0, false},
		{"12", 0, false},
		{"soon", 0, false},
		{"99999999999999999999d", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if !tt.ok {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// Format spells a value so that Parse reads it back unchanged.
func TestFormatRoundTrip(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{90 * time.Second, "1m30s"},
		{12 * time.Hour, "12h0m0s"},
		{14 * 24 * time.Hour, "14d"},
		{36 * time.Hour, "36h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			var v Value = Value(tt.d)
			if got := v.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			var back Value
			if err := back.Set(tt.want); err != nil || back != v {
				t.Fatalf("Set(%q) = %v, %v; want %v", tt.want, time.Duration(back), err, tt.d)
			}
		})
	}
}
