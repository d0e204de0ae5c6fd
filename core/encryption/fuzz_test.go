package encryption

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"
)

// FuzzDecrypt feeds arbitrary bytes to every decoder. None may panic, each must
// fail with a classified error or succeed, and all three must agree. The seed
// corpus (the test vectors, valid and invalid) runs as a normal test.
//
//	go test -run '^$' -fuzz FuzzDecrypt ./core/encryption
func FuzzDecrypt(f *testing.F) {
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		f.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		f.Fatal(err)
	}
	for _, v := range vf.Valid {
		ct, _ := hex.DecodeString(v.Ciphertext)
		f.Add(ct)
	}
	for _, v := range vf.Invalid {
		ct, _ := hex.DecodeString(v.Ciphertext)
		f.Add(ct)
	}
	f.Add([]byte("LECT"))
	f.Add([]byte{})
	key := vectorKey()
	f.Fuzz(func(t *testing.T, ct []byte) {
		classified := func(err error) bool {
			return errors.Is(err, ErrAuthentication) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrFormat)
		}
		pt, err := Open(key, ct)
		if err != nil && !classified(err) {
			t.Fatalf("Open: unclassified error %v", err)
		}
		streamed, serr := decryptStream(ct, key)
		if (err == nil) != (serr == nil) || err == nil && !bytes.Equal(pt, streamed) {
			t.Fatalf("Open and Reader disagree: %v / %v", err, serr)
		}
		ra, rerr := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
		if rerr == nil {
			var got []byte
			got, rerr = io.ReadAll(io.NewSectionReader(ra, 0, ra.Size()))
			if rerr == nil && !bytes.Equal(got, pt) {
				t.Fatal("ReaderAt and Open disagree on the plaintext")
			}
		}
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Open and ReaderAt disagree: %v / %v", err, rerr)
		}
	})
}

// FuzzRoundTrip encrypts arbitrary plaintext with arbitrary write sizes and
// segment sizes, interrupts and resumes the writer at an arbitrary point, and
// checks every decoder returns the plaintext.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(""), uint8(0), uint16(1), uint16(0))
	f.Add(bytes.Repeat([]byte("lectern"), 100), uint8(0), uint16(7), uint16(300))
	f.Add(bytes.Repeat([]byte{0}, 192), uint8(0), uint16(192), uint16(192))
	f.Add(bytes.Repeat([]byte{1}, 2000), uint8(2), uint16(1000), uint16(1999))
	key := testKey(f, 40)
	f.Fuzz(func(t *testing.T, pt []byte, segSel uint8, chunk, stop uint16) {
		segLog := smallLog + int(segSel%3)
		stopAt := 0
		if len(pt) > 0 {
			stopAt = int(stop) % (len(pt) + 1)
		}
		var buf bytes.Buffer
		w, err := newWriter(&buf, key, segLog, cryptoRand{})
		if err != nil {
			t.Fatal(err)
		}
		writeChunks(t, w, pt[:stopAt], int(chunk))
		h, _ := ParseHeader(buf.Bytes())
		rp, err := h.ResumePoint(int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		buf.Truncate(int(rp.CiphertextOffset))
		w, err = ResumeWriter(&buf, key, buf.Bytes()[:HeaderSize], rp.Segments)
		if err != nil {
			t.Fatal(err)
		}
		writeChunks(t, w, pt[rp.PlaintextOffset:], int(chunk))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		ct := buf.Bytes()
		if n, err := h.CiphertextSize(int64(len(pt))); err != nil || n != int64(len(ct)) {
			t.Fatalf("CiphertextSize = %d, %v; got %d bytes", n, err, len(ct))
		}
		got, err := Open(key, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open: %v", err)
		}
		ra, err := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 0 {
			off := int(chunk) % len(pt)
			p := make([]byte, min(len(pt)-off, 300))
			if _, err := ra.ReadAt(p, int64(off)); err != nil && !errors.Is(err, io.EOF) || !bytes.Equal(p, pt[off:off+len(p)]) {
				t.Fatalf("ReadAt(%d): %v", off, err)
			}
		}
	})
}
