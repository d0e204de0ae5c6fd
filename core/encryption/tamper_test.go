package encryption

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// fourSegments returns a small-segment file of four segments (0..2 full, 3 final).
func fourSegments(t *testing.T, key Key, seed uint64) (pt, ct []byte, h Header) {
	t.Helper()
	probe := newHeader(smallLog, make([]byte, saltSize+noncePrefixSize))
	pt = pattern(int(probe.firstCap()+2*probe.segCap()+50), seed)
	ct = encrypt(t, key, smallLog, pt, 0)
	h, err := ParseHeader(ct)
	if err != nil {
		t.Fatal(err)
	}
	if f, _, _ := h.finalSegment(int64(len(ct))); f != 3 {
		t.Fatalf("setup: final segment %d, want 3", f)
	}
	return pt, ct, h
}

// checkAll decrypts ct every way the package offers and requires each to fail
// with want. The streaming reader must not release plaintext past the last good
// segment: released must be a prefix of pt ending on a segment boundary.
func checkAll(t *testing.T, key Key, ct, pt []byte, want error) {
	t.Helper()
	got, err := decryptStream(ct, key)
	if !errors.Is(err, want) {
		t.Fatalf("stream: %v, want %v", err, want)
	}
	if !bytes.HasPrefix(pt, got) {
		t.Fatalf("stream released %d bytes that are not plaintext", len(got))
	}
	if h, herr := ParseHeader(ct); herr == nil && len(got) > 0 && h.plainStart(h.segmentOf(int64(len(got)))) != int64(len(got)) {
		t.Fatalf("stream released %d bytes: not a whole number of verified segments", len(got))
	}
	if r, err := NewReader(bytes.NewReader(ct), key); err == nil {
		// The Read path (io.ReadAll) as well as WriteTo (io.Copy above).
		got, err = io.ReadAll(onlyReader{r})
		if !errors.Is(err, want) || !bytes.HasPrefix(pt, got) {
			t.Fatalf("Read path: %v after %d bytes, want %v", err, len(got), want)
		}
	}
	if _, err := Open(key, ct); !errors.Is(err, want) {
		t.Fatalf("Open: %v, want %v", err, want)
	}
	ra, err := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
	if err == nil {
		_, err = io.ReadAll(io.NewSectionReader(ra, 0, ra.Size()))
	}
	if !errors.Is(err, want) {
		t.Fatalf("ReaderAt: %v, want %v", err, want)
	}
}

func TestBitFlips(t *testing.T) {
	key := testKey(t, 10)
	pt, ct, _ := fourSegments(t, key, 1)
	for pos := range ct {
		var want error
		switch {
		case pos < 5 || pos == 6 || pos == 7 || pos == prefixSize: // magic, version, reserved, header length
			want = ErrFormat
		default: // segment size (2^8 -> 2^9 is valid), salt, nonce prefix, segments
			want = ErrAuthentication
		}
		t.Run(fmt.Sprintf("byte%d", pos), func(t *testing.T) {
			bad := bytes.Clone(ct)
			bad[pos] ^= 0x01
			checkAll(t, key, bad, pt, want)
		})
	}
}

func TestTruncation(t *testing.T) {
	key := testKey(t, 11)
	pt, ct, h := fourSegments(t, key, 2)
	for cut := 0; cut < len(ct); cut++ {
		want := ErrAuthentication // cut inside a segment's bytes: indistinguishable from tampering
		if cut < HeaderSize {
			want = ErrTruncated
		} else if tail := int64(cut) - h.cipherStart(uint64(cut)/uint64(h.seg)); tail < TagSize {
			want = ErrTruncated // on a segment boundary, or too short for a tag
		}
		t.Run(fmt.Sprintf("cut%d", cut), func(t *testing.T) {
			checkAll(t, key, ct[:cut], pt, want)
		})
	}
}

func TestReorderDuplicateDrop(t *testing.T) {
	key := testKey(t, 12)
	pt, ct, h := fourSegments(t, key, 3)
	seg := func(i uint64) []byte {
		end := h.cipherStart(i + 1)
		if i == 3 {
			end = int64(len(ct))
		}
		return ct[h.cipherStart(i):end]
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	head := ct[:HeaderSize]
	cases := map[string][]byte{
		"swap 1 and 2":          join(head, seg(0), seg(2), seg(1), seg(3)),
		"duplicate 1 over 2":    join(head, seg(0), seg(1), seg(1), seg(3)),
		"drop middle segment":   join(head, seg(0), seg(1), seg(3)),
		"final moved earlier":   join(head, seg(0), seg(1), seg(3), seg(2)),
		"segment repeated":      join(head, seg(0), seg(1), seg(2), seg(2), seg(3)),
		"data after final":      join(ct, []byte("more")),
		"final segment doubled": join(ct, seg(3)),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) { checkAll(t, key, bad, pt, ErrAuthentication) })
	}
}

func TestSpliceFromAnotherFile(t *testing.T) {
	key := testKey(t, 13) // same key for both files: the subkeys still differ
	pt, a, h := fourSegments(t, key, 4)
	_, b, _ := fourSegments(t, key, 5)
	s1, e1 := h.cipherStart(1), h.cipherStart(2)
	cases := map[string][]byte{
		"segment 1 from B":     bytes.Join([][]byte{a[:s1], b[s1:e1], a[e1:]}, nil),
		"header from B":        append(bytes.Clone(b[:HeaderSize]), a[HeaderSize:]...),
		"final segment from B": append(bytes.Clone(a[:h.cipherStart(3)]), b[h.cipherStart(3):]...),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) { checkAll(t, key, bad, pt, ErrAuthentication) })
	}
}

func TestWrongKey(t *testing.T) {
	pt, ct, _ := fourSegments(t, testKey(t, 14), 6)
	checkAll(t, testKey(t, 15), ct, pt, ErrAuthentication)
}

func TestNotThisFormat(t *testing.T) {
	key := testKey(t, 16)
	for name, in := range map[string][]byte{
		"plain text":   []byte("<xml>hello world, this is not encrypted at all....</xml>"),
		"magic prefix": []byte("LE"),
		"empty":        nil,
	} {
		want := ErrFormat
		if len(in) < 4 && bytes.HasPrefix(magic[:], in) {
			want = ErrTruncated
		}
		if _, err := Open(key, in); !errors.Is(err, want) {
			t.Errorf("%s: Open: %v, want %v", name, err, want)
		}
		if _, err := NewReader(bytes.NewReader(in), key); !errors.Is(err, want) {
			t.Errorf("%s: NewReader: %v, want %v", name, err, want)
		}
	}
}

// TestErrorsNeverContainKey collects every error message the failure tests produce
// and checks that neither the key nor anything resembling key bytes appears.
func TestErrorsNeverContainKey(t *testing.T) {
	key := testKey(t, 0xa0)
	pt, ct, _ := fourSegments(t, key, 7)
	var msgs []string
	for _, bad := range [][]byte{ct[:len(ct)-3], ct[:100], append(bytes.Clone(ct), 1), nil} {
		if _, err := Open(key, bad); err != nil {
			msgs = append(msgs, err.Error())
		}
		if _, err := decryptStream(bad, key); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	_ = pt
	if _, err := ParseKey(strings.ToUpper(key.Hex())); err != nil {
		msgs = append(msgs, err.Error())
	}
	if _, err := ParseKey(key.Hex()[:63] + "g"); err != nil {
		msgs = append(msgs, err.Error())
	}
	if len(msgs) < 6 {
		t.Fatalf("only %d errors collected", len(msgs))
	}
	for _, m := range msgs {
		if strings.Contains(strings.ToLower(m), key.Hex()[:16]) || strings.Contains(m, string(key[:8])) {
			t.Fatalf("error message contains key material: %q", m)
		}
	}
}
