package encryption_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/lectern/lectern/core/encryption"
)

func Example() {
	key, _ := encryption.NewKey()

	// Encrypt a stream.
	var file bytes.Buffer
	w, _ := encryption.NewWriter(&file, key)
	_, _ = io.Copy(w, strings.NewReader("slide deck bytes"))
	_ = w.Close()

	// Decrypt it.
	r, _ := encryption.NewReader(&file, key)
	pt, _ := io.ReadAll(r)
	fmt.Println(string(pt))
	fmt.Println(key) // keys never print
	// Output:
	// slide deck bytes
	// [redacted]
}

// A plaintext range served from storage: fetch the header, map the range to the
// ciphertext bytes of the covering segments, fetch only those, decrypt.
func ExampleNewRangeReader() {
	key, _ := encryption.NewKey()
	stored, _ := encryption.Seal(key, []byte(strings.Repeat("0123456789", 20000)))
	size := int64(len(stored))

	h, _ := encryption.ParseHeader(stored[:encryption.HeaderSize]) // ranged Get #1
	start, length, _ := h.CiphertextRange(size, 150000, 12)
	body := bytes.NewReader(stored[start : start+length]) // ranged Get #2
	r, _ := encryption.NewRangeReader(body, key, h, size, 150000, 12)
	got, _ := io.ReadAll(r)
	fmt.Printf("%s (fetched %d of %d bytes)\n", got, length, size)
	// Output: 012345678901 (fetched 65536 of 200112 bytes)
}

// Resuming an upload after the process died mid-file.
func ExampleResumeWriter() {
	key, _ := encryption.NewKey()
	plaintext := bytes.Repeat([]byte("x"), 200000)

	var stored bytes.Buffer
	w, _ := encryption.NewWriter(&stored, key)
	_, _ = w.Write(plaintext[:150000]) // ... then the process dies: no Close

	h, _ := encryption.ParseHeader(stored.Bytes())
	rp, _ := h.ResumePoint(int64(stored.Len()))
	stored.Truncate(int(rp.CiphertextOffset)) // drop a partly written segment, if any
	w2, _ := encryption.ResumeWriter(&stored, key, stored.Bytes()[:encryption.HeaderSize], rp.Segments)
	_, _ = w2.Write(plaintext[rp.PlaintextOffset:])
	_ = w2.Close()

	got, err := encryption.Open(key, stored.Bytes())
	fmt.Println(rp.Segments, rp.PlaintextOffset, bytes.Equal(got, plaintext), err)
	// Output: 2 130992 true <nil>
}
