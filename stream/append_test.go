package stream

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

// An upload sent in many PATCHes is written once on a backend that appends: part 0
// grows in place and is renamed into the content file. Without Append each PATCH
// has a part of its own; a backend that composes (S3) makes the content file from
// them inside the storage, elsewhere they are joined, so every byte is written twice.
func TestMultiPatchUploadWrittenOnce(t *testing.T) {
	for _, tc := range []struct {
		name        string
		backend     func(testing.TB) *backend
		wantAppend  bool
		wantCompose bool
	}{
		{"append", newBackend, true, false},
		{"compose", newBackendComposing, false, true},
		{"parts", newBackendWithoutAppend, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := tc.backend(t)
			in := be.start(t, withStream(func(c *Config) { c.DirectMax = -1 }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(3<<20 + 777)
			const chunk = 300_001
			patches := (len(data) + chunk - 1) / chunk
			cipherSize, err := encryption.CiphertextSize(int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			loc := in.create(conf, tok, int64(len(data)), meta("filename", "talk.pdf"))
			id := loc[strings.LastIndexByte(loc, '/')+1:]
			before, _ := be.rec.written()
			res := resultFromHeaders(t, in.sendAll(loc, tok, data, 0, chunk))
			in.checkContent(conf, res, data)
			after, moves := be.rec.written()
			written := after - before
			parts := be.rec.putKeys(uploadPrefix(conf, id) + partPrefix)
			// Besides the ciphertext, each PATCH writes a sealed tail (under one
			// segment) and the lease: far less than a second copy.
			small := int64(patches) * (64<<10 + 4<<10)
			if tc.wantAppend {
				if len(parts) != 1 || be.rec.appends < patches-1 || len(moves) != 1 {
					t.Fatalf("parts put %v, %d appends, moves %v: want part 0 put once, appended to by every later PATCH and renamed", parts, be.rec.appends, moves)
				}
				if written > cipherSize+small {
					t.Fatalf("wrote %d bytes for %d bytes of ciphertext in %d PATCHes: written twice", written, cipherSize, patches)
				}
			} else {
				if len(parts) != patches || be.rec.appends != 0 {
					t.Fatalf("parts put %d, appends %d; want one part per PATCH (%d)", len(parts), be.rec.appends, patches)
				}
				if tc.wantCompose {
					if be.rec.composes != 1 || written > cipherSize+small {
						t.Fatalf("%d composes, wrote %d bytes for %d bytes of ciphertext: want the parts composed, not copied", be.rec.composes, written, cipherSize)
					}
				} else if written < 2*cipherSize {
					t.Fatalf("wrote %d bytes for %d bytes of ciphertext in parts: expected the parts and the joined file", written, cipherSize)
				}
			}
			if objs := be.objects(t, uploadPrefix(conf, id)); len(objs) != 1 {
				t.Fatalf("left in the upload's folder: %v (want only its record)", objs)
			}
			be.noPlaintext(t, "lectern-plaintext-line")
		})
	}
}

// TestAppendInterrupted damages an upload that grows in place the ways a failed or
// cut-off request leaves it, and checks that the offset is the end of the intact
// segments (never earlier than a segment that reached storage intact, never past a
// torn one) and that the client's resend from there gives the exact file.
func TestAppendInterrupted(t *testing.T) {
	const first = 200_000 // the first PATCH: 3 whole segments and a tail
	cases := []struct {
		name string
		// damage runs after the first PATCH; it may fail the second one (sent
		// by the case itself) and returns the offset the client must get next.
		damage func(t *testing.T, be *backend, in *instance, conf, id, loc, tok string, data []byte) int64
	}{
		{"tail_put_failed_after_append", func(t *testing.T, be *backend, in *instance, conf, id, loc, tok string, data []byte) int64 {
			failTail(be, conf, id)
			if r := in.patch(loc, tok, first, data[first:first+400_000]); r.status < 500 {
				t.Fatalf("PATCH with a failing tail put: %v", r)
			}
			setFailPut(be, nil)
			// The appended segments are intact and count; the bytes after the last
			// whole segment were only in the tail that was not written.
			off := segmentsEnd(t, in, conf, id)
			if off <= first || off > first+400_000 {
				t.Fatalf("intact end %d, want past the first PATCH (%d) and within the second", off, first)
			}
			return off
		}},
		{"garbage_after_committed_segments", func(t *testing.T, be *backend, in *instance, conf, id, loc, tok string, data []byte) int64 {
			appendRaw(t, be, conf, id, bytes.Repeat([]byte{0x5a}, 150_000))
			return first
		}},
		{"torn_segment_after_intact_ones", func(t *testing.T, be *backend, in *instance, conf, id, loc, tok string, data []byte) int64 {
			// A second PATCH is appended, then its last whole segment is torn (its
			// last page never reached the disk) and the tail was never written.
			failTail(be, conf, id)
			in.patch(loc, tok, first, data[first:first+400_000])
			setFailPut(be, nil)
			intact := segmentsEnd(t, in, conf, id)
			p0 := uploadPrefix(conf, id) + partName(0)
			b, _, err := be.bucket.ReadAll(t.Context(), p0)
			if err != nil {
				t.Fatal(err)
			}
			seg := int64(encryption.DefaultSegmentSize)
			end := int64(len(b)) / seg * seg // the end of the last whole segment
			st, err := be.bucket.Stat(t.Context(), p0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := be.bucket.Append(t.Context(), p0, end-100, bytes.NewReader(make([]byte, 100)), st.Version); err != nil {
				t.Fatal(err)
			}
			off := segmentsEnd(t, in, conf, id)
			if off >= intact {
				t.Fatalf("offset %d with its last segment torn, want before %d", off, intact)
			}
			return off
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t, withStream(func(c *Config) { c.DirectMax = -1 }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(1_000_000)
			loc := in.create(conf, tok, int64(len(data)), meta("filename", "x.pdf"))
			id := loc[strings.LastIndexByte(loc, '/')+1:]
			in.sendAll(loc, tok, data[:first], 0, first)
			want := tc.damage(t, be, in, conf, id, loc, tok, data)
			if off := in.offset(loc, tok); off != want {
				t.Fatalf("offset %d, want %d", off, want)
			}
			last := in.sendAll(loc, tok, data, want, 250_000)
			in.checkContent(conf, resultFromHeaders(t, last), data)
			if objs := be.objects(t, uploadPrefix(conf, id)); len(objs) != 1 {
				t.Fatalf("left in the upload's folder: %v (want only its record)", objs)
			}
		})
	}
}

// A final segment torn after the last PATCH (the completion then failed, so the
// upload is not done): the next request finds that the final segment does not
// authenticate, asks the client for the bytes after the last whole segment again,
// and completes with the exact file.
func TestAppendTornFinalSegment(t *testing.T) {
	be := newBackend(t)
	in := be.start(t, withStream(func(c *Config) { c.DirectMax = -1 }))
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(500_000)
	loc := in.create(conf, tok, int64(len(data)), "")
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	in.sendAll(loc, tok, data[:100_000], 0, 100_000)
	// The completion fails: marking the record done and renaming are refused.
	setFailPut(be, func(key string) error {
		if strings.HasSuffix(key, "/"+infoObject) {
			return storage.NewError(storage.ErrUnavailable, "put", key, errors.New("injected"))
		}
		return nil
	})
	if r := in.patch(loc, tok, 100_000, data[100_000:]); r.status < 500 {
		t.Fatalf("PATCH whose completion fails: %v", r)
	}
	setFailPut(be, nil)
	p0 := uploadPrefix(conf, id) + partName(0)
	st, err := be.bucket.Stat(t.Context(), p0)
	if err != nil {
		t.Fatalf("part 0 after the failed completion: %v", err)
	}
	if _, err := be.bucket.Append(t.Context(), p0, st.Size-1, bytes.NewReader([]byte{0}), st.Version); err != nil {
		t.Fatal(err)
	}
	off := in.offset(loc, tok)
	if off >= int64(len(data)) || off < int64(len(data))-int64(encryption.DefaultSegmentSize) {
		t.Fatalf("offset %d with a torn final segment, want the end of the last whole segment before %d", off, len(data))
	}
	last := in.sendAll(loc, tok, data, off, 1<<20)
	in.checkContent(conf, resultFromHeaders(t, last), data)
}

// failTail makes every put of the upload's tail fail.
func failTail(be *backend, conf, id string) {
	key := uploadPrefix(conf, id) + tailObject
	setFailPut(be, func(k string) error {
		if k == key {
			return storage.NewError(storage.ErrUnavailable, "put", k, errors.New("injected"))
		}
		return nil
	})
}

func setFailPut(be *backend, f func(key string) error) {
	be.rec.mu.Lock()
	be.rec.failPut = f
	be.rec.mu.Unlock()
}

// appendRaw appends bytes to part 0 behind the stream's back, as a cut-off append
// leaves them.
func appendRaw(t *testing.T, be *backend, conf, id string, b []byte) {
	t.Helper()
	key := uploadPrefix(conf, id) + partName(0)
	st, err := be.bucket.Stat(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.bucket.Append(t.Context(), key, st.Size, bytes.NewReader(b), st.Version); err != nil {
		t.Fatal(err)
	}
}

// TestLongRequestIsStoredInParts: where uploads are stored as parts (no Appender),
// a request longer than PartMax goes up as several parts, each a commit point: when
// its last part fails, the parts stored before it count, and the upload resumes after
// them and completes.
func TestLongRequestIsStoredInParts(t *testing.T) {
	seg := encryption.DefaultSegmentSize
	for _, tc := range []struct {
		name       string
		newBackend func(testing.TB) *backend
	}{
		{"parts", newBackendWithoutAppend},
		{"composing", newBackendComposing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := tc.newBackend(t)
			in := be.start(t, withStream(func(c *Config) { c.PartMax, c.DirectMax = int64(2*seg), -1 }))
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(5*seg + seg/2)
			loc := in.create(conf, tok, int64(len(data)), meta("filename", "long.pdf"))

			be.rec.mu.Lock()
			be.rec.failPut = func(key string) error {
				if strings.HasSuffix(key, "/"+partName(4)) {
					return storage.NewError(storage.ErrUnavailable, "put", key, errors.New("injected"))
				}
				return nil
			}
			be.rec.mu.Unlock()
			if r := in.patch(loc, tok, 0, data); r.status != http.StatusServiceUnavailable {
				t.Fatalf("PATCH whose last part fails: %v", r)
			}
			be.rec.mu.Lock()
			be.rec.failPut = nil
			be.rec.mu.Unlock()

			// Segment 0 carries the header; each segment carries a tag.
			want := int64(4*(seg-encryption.TagSize) - encryption.HeaderSize)
			if got := in.offset(loc, tok); got != want {
				t.Fatalf("offset after the failed part %d, want %d (the two parts stored before it)", got, want)
			}
			last := in.patch(loc, tok, want, data[want:])
			in.checkContent(conf, resultFromHeaders(t, last), data)
			if parts := be.rec.putKeys(uploadPrefix(conf, locationID(loc)) + partPrefix); len(parts) != 3 {
				t.Fatalf("parts put %v, want 3 (two of PartMax, then the rest)", parts)
			}
		})
	}
}

func locationID(loc string) string { return loc[strings.LastIndex(loc, "/")+1:] }
