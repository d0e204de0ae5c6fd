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
//	go test -run '^$' -bench . -benchtime 5x -count 5 ./core/encryption
//
// Sources and sinks hide ReaderFrom/WriterTo on purpose, so every variant moves
// data the way an upload handler does: through io.Copy's 32 KiB buffer.

type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

var benchSizes = []int{1 << 20, 256 << 20}

func sizeName(n int) string { return fmt.Sprintf("%dMiB", n>>20) }

// measure runs op in a b.Loop and reports, besides the wall-clock MB/s of
// SetBytes, the MB per CPU second (user+system, all threads): on a shared machine
// wall-clock throughput mostly measures the neighbours.
func measure(b *testing.B, bytesPerOp int, op func() error) {
	b.Helper()
	b.SetBytes(int64(bytesPerOp))
	start := cpuTime()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	if used := cpuTime() - start; used > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/used.Seconds()/1e6, "cpuMB/s")
	}
}

func BenchmarkEncrypt(b *testing.B) {
	key := testKey(b, 50)
	for _, size := range benchSizes {
		pt := pattern(size, 1)
		b.Run(sizeName(size)+"/raw-copy", func(b *testing.B) {
			measure(b, size, func() error {
				_, err := io.Copy(onlyWriter{io.Discard}, onlyReader{bytes.NewReader(pt)})
				return err
			})
		})
		b.Run(sizeName(size)+"/encrypt", func(b *testing.B) {
			measure(b, size, func() error {
				w, err := NewWriter(onlyWriter{io.Discard}, key)
				if err != nil {
					return err
				}
				if _, err := io.Copy(w, onlyReader{bytes.NewReader(pt)}); err != nil {
					return err
				}
				return w.Close()
			})
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	key := testKey(b, 51)
	for _, size := range benchSizes {
		ct, err := Seal(key, pattern(size, 2))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sizeName(size)+"/raw-copy", func(b *testing.B) {
			measure(b, len(ct), func() error {
				_, err := io.Copy(onlyWriter{io.Discard}, onlyReader{bytes.NewReader(ct)})
				return err
			})
		})
		b.Run(sizeName(size)+"/decrypt", func(b *testing.B) {
			measure(b, len(ct), func() error {
				r, err := NewReader(onlyReader{bytes.NewReader(ct)}, key)
				if err != nil {
					return err
				}
				_, err = io.Copy(onlyWriter{io.Discard}, r)
				return err
			})
		})
		b.Run(sizeName(size)+"/readerat-32KiB-reads", func(b *testing.B) {
			measure(b, len(ct), func() error {
				ra, err := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
				if err != nil {
					return err
				}
				_, err = io.Copy(onlyWriter{io.Discard}, onlyReader{io.NewSectionReader(ra, 0, ra.Size())})
				return err
			})
		})
	}
}
