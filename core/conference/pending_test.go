package conference_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/conference"
)

// TestCheckUploadPending: an upload's size is checked with the bytes the
// conference's unfinished uploads already hold (the engine charges them only when
// they complete), and UploadRoom is what the quota leaves after stored content.
func TestCheckUploadPending(t *testing.T) {
	e := quotaEngine(t, nil) // 1000 bytes a file, 1500 a conference, per purpose
	if _, err := e.StoreContent(t.Context(), "quota", conference.SlideContent, "png", bytes.NewReader(make([]byte, 500)), 500); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		p             conference.Purpose
		size, pending int64
		wantErr       error
		wantText      string
	}{
		{"fits with the pending bytes", conference.SlideContent, 500, 500, nil, ""},
		{"over with the pending bytes", conference.SlideContent, 500, 501, conference.ErrLimit, "unfinished uploads"},
		{"pending bytes alone over", conference.SlideContent, 0, 1001, conference.ErrLimit, "unfinished uploads"},
		{"over the file limit", conference.SlideContent, 1001, 0, conference.ErrLimit, "file"},
		{"handouts have their own quota", conference.HandoutContent, 1000, 500, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.CheckUploadPending(t.Context(), "quota", tt.p, tt.size, tt.pending)
			if !errors.Is(err, tt.wantErr) || (err != nil && !strings.Contains(err.Error(), tt.wantText)) {
				t.Fatalf("CheckUploadPending(%d, %d) = %v, want %v saying %q", tt.size, tt.pending, err, tt.wantErr, tt.wantText)
			}
		})
	}
	for p, want := range map[conference.Purpose]int64{conference.SlideContent: 1000, conference.HandoutContent: 1500} {
		if room, err := e.UploadRoom(t.Context(), "quota", p); err != nil || room != want {
			t.Fatalf("UploadRoom(%s) = %d, %v; want %d", p, room, err, want)
		}
	}
	if _, err := e.UploadRoom(t.Context(), "nope", conference.SlideContent); !errors.Is(err, conference.ErrNotFound) {
		t.Fatalf("UploadRoom of an unknown conference: %v", err)
	}
}
