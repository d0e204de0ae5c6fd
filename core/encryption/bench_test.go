package encryption

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// The benchmarks compare encryption and decryption with a plain io.Copy of the
// same bytes in the same run (docs/benchmarks-encryption.md):
//
//	go test -run '^$' -bench . -benchtime 5x ./core/encryption
//
// Sources and sinks hide ReaderFrom/WriterTo on purpose, so every variant moves
// data the way an upload handler does: through io.Copy's 32 KiB buffer.

type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

var benchSizes = []int{1 << 20, 256 << 20}

func sizeName(n int) string { return fmt.Sprintf("%dMiB", n>>20) }

func BenchmarkEncrypt(b *testing.B) {
	key := testKey(b, 50)
	for _, size := range benchSizes {
		pt := pattern(size, 1)
		b.Run(sizeName(size)+"/raw-copy", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := io.Copy(onlyWriter{io.Discard}, onlyReader{bytes.NewReader(pt)}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sizeName(size)+"/encrypt", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				w, err := NewWriter(onlyWriter{io.Discard}, key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(w, onlyReader{bytes.NewReader(pt)}); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	key := testKey(b, 51)
	for _, size := range benchSizes {
		pt := pattern(size, 2)
		ct, err := Seal(key, pt)
		if err != nil {
			b.Fatal(err)
		}
		pt = nil
		b.Run(sizeName(size)+"/raw-copy", func(b *testing.B) {
			b.SetBytes(int64(len(ct)))
			for b.Loop() {
				if _, err := io.Copy(onlyWriter{io.Discard}, onlyReader{bytes.NewReader(ct)}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sizeName(size)+"/decrypt", func(b *testing.B) {
			b.SetBytes(int64(len(ct)))
			for b.Loop() {
				r, err := NewReader(onlyReader{bytes.NewReader(ct)}, key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(onlyWriter{io.Discard}, r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sizeName(size)+"/readerat-64KiB-reads", func(b *testing.B) {
			b.SetBytes(int64(len(ct)))
			buf := make([]byte, 64<<10)
			for b.Loop() {
				ra, err := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(onlyWriter{io.Discard}, onlyReader{io.NewSectionReader(ra, 0, ra.Size())}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
