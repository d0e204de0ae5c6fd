package conference_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

func withLimits(l conference.Limits) func(*conference.Config) {
	return func(c *conference.Config) { c.Limits = l }
}

// TestHandoutAndContentLimitsAreSeparate: handouts have their own per-conference byte
// and file limits, apart from the slides' content limits, each way round. Sharing
// one would let slides use up the room the organizer gave handouts, or refuse slides
// because of handouts.
func TestHandoutAndContentLimitsAreSeparate(t *testing.T) {
	for _, tc := range []struct {
		name         string
		small, other conference.Purpose
		limits       func(*conference.Limits)
	}{
		{"handout limits small", conference.HandoutContent, conference.SlideContent, func(l *conference.Limits) {
			l.MaxConferenceHandouts, l.MaxHandoutFiles = 100, 1
		}},
		{"content limits small", conference.SlideContent, conference.HandoutContent, func(l *conference.Limits) {
			l.MaxConferenceContent, l.MaxContentFiles = 100, 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := conference.DefaultLimits()
			tc.limits(&lim)
			e := openEngine(t, nil, randomKEK(t), withLimits(lim))
			createConference(t, e, "talk", time.Time{})
			store := func(p conference.Purpose, n int) error {
				ext := "png"
				if p == conference.HandoutContent {
					ext = ""
				}
				_, err := e.StoreContent(t.Context(), "talk", p, ext, bytes.NewReader(make([]byte, n)), -1)
				return err
			}
			if err := store(tc.small, 200); !errors.Is(err, conference.ErrLimit) {
				t.Errorf("200 bytes of %v over its 100-byte conference limit: %v; want ErrLimit", tc.small, err)
			}
			if err := store(tc.other, 200); err != nil {
				t.Errorf("200 bytes of %v under the default limit: %v", tc.other, err)
			}
			if err := store(tc.small, 10); err != nil {
				t.Fatalf("the first %v file: %v", tc.small, err)
			}
			if err := store(tc.small, 10); !errors.Is(err, conference.ErrLimit) {
				t.Errorf("a second %v file over its one-file limit: %v; want ErrLimit", tc.small, err)
			}
			if err := store(tc.other, 10); err != nil {
				t.Errorf("a second %v file under the default limit: %v", tc.other, err)
			}
		})
	}
}

// sealed encrypts n bytes with key in the content format.
func sealed(t *testing.T, key encryption.Key, n int) []byte {
	t.Helper()
	var ct bytes.Buffer
	w, err := encryption.NewWriter(&ct, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("z"), n)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return ct.Bytes()
}

// smallQuota: 1000 bytes a file, 1500 a conference, and room for two content files.
func smallQuota() conference.Limits {
	return conference.Limits{MaxContentFile: 1000, MaxHandoutFile: 1000, MaxConferenceContent: 1500,
		MaxConferenceHandouts: 1500, MaxContentFiles: 2, MaxHandoutFiles: 2}
}

// TestSizedStoreRefusedForQuotaGivesBackItsFileSlot: a store whose plaintext size is
// known up front takes a file slot, then the bytes; refused for the bytes, it must
// give the slot back, or every refused upload would shrink the conference's file
// limit until nothing more fits.
func TestSizedStoreRefusedForQuotaGivesBackItsFileSlot(t *testing.T) {
	ctx := t.Context()
	key, err := encryption.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, nil, randomKEK(t), withLimits(smallQuota()))
	createConference(t, e, "talk", time.Time{})
	storeSized := func(n int) error {
		name, err := conference.NewContentName(conference.SlideContent, "pdf")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.StoreEncrypted(ctx, "talk", conference.SlideContent, name, key, bytes.NewReader(sealed(t, key, n)), int64(n))
		return err
	}
	if err := storeSized(900); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := storeSized(900); !errors.Is(err, conference.ErrLimit) {
			t.Fatalf("1800 bytes under a 1500-byte quota: %v; want ErrLimit", err)
		}
	}
	if err := storeSized(100); err != nil {
		t.Fatalf("the second of two files, within the quota, after refused ones: %v", err)
	}
}

// complianceOutage fails the puts under prefix (the compliance copies) while armed.
type complianceOutage struct {
	storage.Driver
	prefix *string
	armed  *atomic.Bool
}

func (d complianceOutage) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if d.armed.Load() && strings.HasPrefix(key, *d.prefix) {
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, errors.New("injected"))
	}
	return d.Driver.Put(ctx, key, r, o)
}

// complianceOutageMover keeps the memory driver's Move, which the wrapper would hide.
type complianceOutageMover struct {
	complianceOutage
	m storage.Mover
}

func (d complianceOutageMover) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	return d.m.Move(ctx, src, dst)
}

// complianceOutageComposer composes but cannot rename.
type complianceOutageComposer struct {
	complianceOutage
	c storage.Composer
}

func (d complianceOutageComposer) Compose(ctx context.Context, dst string, srcs []string) (storage.Attributes, error) {
	return d.c.Compose(ctx, dst, srcs)
}
func (d complianceOutageComposer) ComposeLimits() (int64, int) { return d.c.ComposeLimits() }

// TestFailedComplianceCopyUndoesTheStore: with compliance copies required, content
// whose copy fails is not stored: the content file is removed (an adopted upload goes
// back to where it was, so that a retry finds it), and its bytes and file slot go
// back to the quota. Otherwise each failure leaves a file nobody was told about and
// shrinks the quota, and a renamed upload is lost to its retry.
func TestFailedComplianceCopyUndoesTheStore(t *testing.T) {
	const n = 900
	upload := layout.UploadRoot + "/talk/0123456789abcdef0123456789abcdef/part-"
	for _, mode := range []string{"StoreContent", "StoreEncrypted", "adopt by rename", "adopt by compose", "adopt by copy"} {
		t.Run(mode, func(t *testing.T) {
			ctx := t.Context()
			mem := memory.New(memory.NewStore())
			prefix := new(string)
			outage := complianceOutage{Driver: mem, prefix: prefix, armed: &atomic.Bool{}}
			var d storage.Driver = outage
			switch mode {
			case "adopt by rename":
				d = complianceOutageMover{outage, mem}
			case "adopt by compose":
				d = complianceOutageComposer{outage, mem}
			}
			e := openEngine(t, d, randomKEK(t), withLimits(smallQuota()), func(c *conference.Config) {
				c.Compliance = conference.Compliance{Enabled: true, Required: true}
			})
			info := createConference(t, e, "talk", time.Time{})
			*prefix = info.Location().CompliancePrefix()
			raw := storage.NewBucket(mem)
			key, err := encryption.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			ct := sealed(t, key, n)
			parts := []string{upload + "0"}
			if mode == "adopt by compose" {
				parts = append(parts, upload+"1", upload+"2")
			}
			cut := len(ct) / len(parts)
			for i, k := range parts {
				part := ct[i*cut:]
				if i < len(parts)-1 {
					part = part[:cut]
				}
				if _, err := raw.PutBytes(ctx, k, part, storage.Condition{}); err != nil {
					t.Fatal(err)
				}
			}
			name, err := conference.NewContentName(conference.SlideContent, "pdf")
			if err != nil {
				t.Fatal(err)
			}

			outage.armed.Store(true)
			switch mode {
			case "StoreContent":
				_, err = e.StoreContentAs(ctx, "talk", conference.SlideContent, name, key, bytes.NewReader(make([]byte, n)), -1)
			case "StoreEncrypted":
				_, err = e.StoreEncrypted(ctx, "talk", conference.SlideContent, name, key, bytes.NewReader(ct), n)
			default:
				_, err = e.AdoptEncrypted(ctx, "talk", conference.SlideContent, name, key, parts, n)
			}
			outage.armed.Store(false)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("store with its compliance copy failing: %v; want ErrUnavailable", err)
			}
			for a, err := range raw.List(ctx, info.Location().ContentPrefix()) {
				if err != nil {
					t.Fatal(err)
				}
				t.Errorf("content file %s left by a store that failed", a.Key)
			}
			var got []byte
			for _, k := range parts {
				b, _, err := raw.ReadAll(ctx, k)
				if err != nil {
					t.Fatalf("upload part %s after the failed adoption: %v", k, err)
				}
				got = append(got, b...)
			}
			if !bytes.Equal(got, ct) {
				t.Fatal("the upload's parts changed")
			}
			// Two 700-byte files fit the 1500-byte, two-file quota only if the failed
			// store gave back both its bytes and its slot.
			for i := range 2 {
				if _, err := e.StoreContent(ctx, "talk", conference.SlideContent, "png", bytes.NewReader(make([]byte, 700)), -1); err != nil {
					t.Fatalf("store %d after the failed one: %v", i+1, err)
				}
			}
		})
	}
}
