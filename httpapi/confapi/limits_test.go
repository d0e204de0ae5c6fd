package confapi_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/confapi"
)

// whiteboard creates conference conf with a slide set aaa holding one whiteboard
// slide (id 1), and returns the presenter and attendee tokens and the set's path.
func whiteboard(t *testing.T, e *env, conf string) (presenter, attendee, base string) {
	t.Helper()
	presenter, attendee = e.conference(conf)
	e.must(201, e.do("POST", "/v1/conferences/"+conf+"/slidesets", presenter, "", map[string]string{"name": "Deck"}))
	st, err := e.engine.StoreContent(context.Background(), conf, conference.SlideContent, "png", bytes.NewReader([]byte("img")), 3)
	if err != nil {
		t.Fatal(err)
	}
	base = "/v1/conferences/" + conf + "/slidesets/aaa"
	e.must(201, e.do("POST", base+"/slides", presenter, "", map[string]any{"kind": "whiteboard", "name": "wb",
		"image": map[string]any{"name": st.Name, "key": st.Key.Hex()}}))
	return presenter, attendee, base
}

// TestAnnotationLimits: any participant may annotate a presenter's slide set, so an
// annotation's size and a slide's count of them are bounded, and going over is 413
// too_large that changes nothing.
func TestAnnotationLimits(t *testing.T) {
	e := newEnv(t)
	_, attendee, base := whiteboard(t, e, "ink")
	ann := base + "/slides/1/annotations"
	tests := []struct {
		name   string
		data   string
		status int
		code   string
	}{
		{"data at the limit", strings.Repeat("ab", confapi.MaxAnnotationData), 201, ""},
		{"data one byte over", strings.Repeat("ab", confapi.MaxAnnotationData+1), 413, "too_large"},
		{"data not hex", "zz", 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.must(200, e.do("GET", base+"/xml", attendee, "", nil)).body
			r := e.do("POST", ann, attendee, "", map[string]any{"data": tt.data})
			if r.status != tt.status || (tt.code != "" && r.code() != tt.code) {
				t.Fatalf("%d %s, want %d %s: %.200s", r.status, r.code(), tt.status, tt.code, r.body)
			}
			if r.status >= 400 {
				if after := e.must(200, e.do("GET", base+"/xml", attendee, "", nil)).body; !bytes.Equal(before, after) {
					t.Fatal("a refused annotation changed the slide set")
				}
			}
		})
	}

	t.Run("count per slide", func(t *testing.T) {
		e := newEnv(t)
		_, attendee, base := whiteboard(t, e, "ink")
		ann := base + "/slides/1/annotations"
		for i := range confapi.MaxAnnotationsPerSlide {
			if r := e.do("POST", ann, attendee, "", map[string]any{"data": "00"}); r.status != 201 {
				t.Fatalf("annotation %d of %d: %d %s", i+1, confapi.MaxAnnotationsPerSlide, r.status, r.body)
			}
		}
		before := e.must(200, e.do("GET", base+"/xml", attendee, "", nil)).body
		r := e.do("POST", ann, attendee, "", map[string]any{"data": "00"})
		if r.status != 413 || r.code() != "too_large" {
			t.Fatalf("annotation %d: %d %s, want 413 too_large", confapi.MaxAnnotationsPerSlide+1, r.status, r.code())
		}
		if after := e.must(200, e.do("GET", base+"/xml", attendee, "", nil)).body; !bytes.Equal(before, after) {
			t.Fatal("the refused annotation changed the slide set")
		}
	})

	// The data of all annotations of a set is bounded too: 256 annotations of 64 KiB
	// on one slide alone would be twice what a slide set document may hold.
	t.Run("data per set", func(t *testing.T) {
		e := newEnv(t)
		_, attendee, base := whiteboard(t, e, "ink")
		// Filled to one byte under the bound in one change (through the API it takes
		// 64 requests, each writing the whole set).
		_, err := e.engine.UpdateSlideSet(t.Context(), "ink", "aaa", func(s *metadata.SlideSet) error {
			for left := confapi.MaxAnnotationDataPerSet - 1; left > 0; left -= confapi.MaxAnnotationData {
				data := make([]byte, min(left, confapi.MaxAnnotationData))
				if err := s.AppendAnnotation("1", metadata.Annotation{Author: "sip:a@example.com", Data: data}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if r := e.do("POST", base+"/slides/1/annotations", attendee, "", map[string]any{"data": "00"}); r.status != 201 {
			t.Fatalf("the byte that fills the set's annotation data: %d %s", r.status, r.body)
		}
		before := e.must(200, e.do("GET", base+"/xml", attendee, "", nil)).body
		r := e.do("POST", base+"/slides/1/annotations", attendee, "", map[string]any{"data": "00"})
		if r.status != 413 || r.code() != "too_large" {
			t.Fatalf("one byte over the set's annotation data: %d %s, want 413 too_large", r.status, r.code())
		}
		if after := e.must(200, e.do("GET", base+"/xml", attendee, "", nil)).body; !bytes.Equal(before, after) {
			t.Fatal("the refused annotation changed the slide set")
		}
	})
}

// TestSlideSetDocumentLimitIs413: a slide set over the store's bound on one document
// (metastore.MaxDocumentSize) is a limit, answered 413 too_large like the others, not
// a 400 "invalid storage request".
func TestSlideSetDocumentLimitIs413(t *testing.T) {
	e := newEnvWith(t, envOptions{maxXMLBody: metastore.MaxDocumentSize + 2<<20})
	presenter, _, base := whiteboard(t, e, "huge")
	e.must(201, e.do("POST", base+"/slides/1/annotations", presenter, "", map[string]any{"data": "abcd"}))
	own := e.must(200, e.do("GET", base+"/xml", presenter, "", nil)).body
	if !bytes.Contains(own, []byte(">abcd</ann>")) {
		t.Fatalf("the set's XML has no annotation abcd:\n%s", own)
	}
	// The annotation grown so that the document is just over the bound.
	grow := hex.EncodeToString(bytes.Repeat([]byte{0xab}, (metastore.MaxDocumentSize-len(own))/2+8))
	big := bytes.Replace(own, []byte(">abcd</ann>"), []byte(">"+grow+"</ann>"), 1)
	r := e.do("PUT", base+"/xml", presenter, "application/xml", big)
	if r.status != 413 || r.code() != "too_large" {
		t.Fatalf("PUT of a %d-byte slide set: %d %s, want 413 too_large: %.300s", len(big), r.status, r.code(), r.body)
	}
	if !strings.Contains(string(r.body), fmt.Sprint(metastore.MaxDocumentSize>>20, " MiB")) {
		t.Errorf("the message does not name the limit: %s", r.body)
	}
	if after := e.must(200, e.do("GET", base+"/xml", presenter, "", nil)).body; !bytes.Equal(own, after) {
		t.Fatal("the refused set changed the stored one")
	}
}

// TestAnnotationAuthor: an attendee whose token names it annotates in its own name
// (an empty author becomes its subject, another author is 403 and changes nothing);
// presenters (and organizers, their synonym) and admins, who curate the set, may give
// any author.
func TestAnnotationAuthor(t *testing.T) {
	e := newEnv(t)
	presenter, attendee, base := whiteboard(t, e, "ink")
	admin := e.token(httpapi.RoleAdmin, "ink")
	anonymous, _, err := e.auth.Mint(httpapi.TokenSpec{Role: httpapi.RoleAttendee, Conference: "ink", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ann := base + "/slides/1/annotations"
	tests := []struct {
		name, token, author string
		status              int
		wantAuthor          string
	}{
		{"attendee, no author", attendee, "", 201, "sip:attendee@contoso.com"},
		{"attendee, its own subject", attendee, "sip:attendee@contoso.com", 201, "sip:attendee@contoso.com"},
		{"attendee as the presenter", attendee, "sip:presenter@contoso.com", 403, ""},
		{"attendee as someone else", attendee, "sip:mallory@contoso.com", 403, ""},
		{"attendee token without a subject", anonymous, "sip:guest@contoso.com", 201, "sip:guest@contoso.com"},
		{"presenter carries another's over", presenter, "sip:speaker@contoso.com", 201, "sip:speaker@contoso.com"},
		{"conference admin carries another's over", admin, "sip:speaker@contoso.com", 201, "sip:speaker@contoso.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.must(200, e.do("GET", base+"/xml", presenter, "", nil)).body
			r := e.do("POST", ann, tt.token, "", map[string]any{"data": "00", "author": tt.author})
			if r.status != tt.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tt.status)
			}
			if tt.status != 201 {
				if r.code() != "forbidden" {
					t.Fatalf("code %q, want forbidden", r.code())
				}
				if after := e.must(200, e.do("GET", base+"/xml", presenter, "", nil)).body; !bytes.Equal(before, after) {
					t.Fatal("a refused annotation changed the slide set")
				}
				return
			}
			var slide struct {
				Annotations []struct {
					Author string `json:"author"`
				} `json:"annotations"`
			}
			r.json(t, &slide)
			if n := len(slide.Annotations); n == 0 || slide.Annotations[n-1].Author != tt.wantAuthor {
				t.Fatalf("stored annotations %+v; want the last by %q", slide.Annotations, tt.wantAuthor)
			}
		})
	}
}
