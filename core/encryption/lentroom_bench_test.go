package encryption

import (
	"bytes"
	"io"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// writeOnly hides a destination's Room and Commit: the Writer then seals into its own
// buffer and writes the segment, which the pipe copies.
type writeOnly struct{ io.Writer }

// BenchmarkSealIntoPipe: encrypting 64 MiB into a storage.Pipe (read by io.Discard)
// with the segments sealed in the room the pipe lends against sealed in the Writer's
// buffer and copied, alternating in every iteration. It reports the CPU time per byte
// of each (process CPU, steadier than wall time on a shared machine) and their ratio.
func BenchmarkSealIntoPipe(b *testing.B) {
	pt := bytes.Repeat([]byte{1}, 64<<20)
	key := testKey(b, 9)
	run := func(lend bool) {
		p := storage.NewPipe()
		var dst io.Writer = p
		if !lend {
			dst = writeOnly{p}
		}
		done := make(chan error, 1)
		go func() { _, err := p.WriteTo(io.Discard); done <- err }()
		w, err := NewWriter(dst, key)
		if err == nil {
			_, err = w.Write(pt)
		}
		if err == nil {
			err = w.Close()
		}
		p.CloseWrite(err)
		if rerr := <-done; err != nil || rerr != nil {
			b.Fatal(err, rerr)
		}
	}
	b.SetBytes(2 * int64(len(pt)))
	var lent, copied int64
	i := 0
	for b.Loop() {
		for _, lend := range []bool{i%2 == 0, i%2 != 0} {
			c0 := cpuTime()
			run(lend)
			if d := int64(cpuTime() - c0); lend {
				lent += d
			} else {
				copied += d
			}
		}
		i++
	}
	n := float64(b.N) * float64(len(pt))
	b.ReportMetric(float64(lent)/n, "lent-cpu-ns/B")
	b.ReportMetric(float64(copied)/n, "copied-cpu-ns/B")
	b.ReportMetric(float64(lent)/float64(copied), "cpu-ratio")
}
