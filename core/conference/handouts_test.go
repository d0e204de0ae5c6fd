package conference_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
)

// TestValidateHandoutFilename: the check an upload makes when it begins refuses every
// name the handout's XML record could not carry, so that no upload is sent whole only
// to be refused when it is recorded.
func TestValidateHandoutFilename(t *testing.T) {
	tests := []struct {
		name, filename string
		ok             bool
	}{
		{"plain", "talk.pdf", true},
		{"non-ASCII and astral", "Übung 😀.pdf", true},
		{"tab", "a\tb.txt", true},
		{"255 bytes", strings.Repeat("a", 255), true},
		{"empty", "", false},
		{"256 bytes", strings.Repeat("a", 256), false},
		{"control character", "notes\x01.txt", false},
		{"NUL", "a\x00", false},
		{"escape", "a\x1b[31m.txt", false},
		{"invalid UTF-8", "caf\xe9.txt", false},
		{"truncated UTF-8", "a\xc3", false},
		{"U+FFFF", "a\uffff", false},
		{"encoded surrogate", "a\xed\xa0\x80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := conference.ValidateHandoutFilename(tt.filename)
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateHandoutFilename(%q) = %v, want ok=%v", tt.filename, err, tt.ok)
			}
			if err != nil && !errors.Is(err, conference.ErrInvalidInput) {
				t.Fatalf("error %v is not ErrInvalidInput", err)
			}
			if err != nil && tt.filename != "" && strings.Contains(err.Error(), tt.filename) {
				t.Fatalf("the error quotes the name: %v", err)
			}
		})
	}
}
