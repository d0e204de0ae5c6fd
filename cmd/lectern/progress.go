package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is a byte-count bar on stderr, or nothing when bars are off. It is safe to
// use the zero value's methods on a nil *progress.
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress returns a bar for total bytes (-1: unknown) described by desc.
func (a *app) newProgress(total int64, desc string) *progress {
	if !a.showProgress() {
		return nil
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(a.stderr, "\n") }),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
	)
	return &progress{bar: bar}
}

// Set moves the bar to n bytes (a resumed upload may move backwards).
func (p *progress) Set(n int64) {
	if p != nil {
		_ = p.bar.Set64(n)
	}
}

// Add advances the bar.
func (p *progress) Add(n int64) {
	if p != nil {
		_ = p.bar.Add64(n)
	}
}

// Reader counts what r yields on the bar.
func (p *progress) Reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &countingReader{r: r, p: p}
}

// Finish completes the bar; Abandon leaves it where it is.
func (p *progress) Finish() {
	if p != nil {
		_ = p.bar.Finish()
	}
}

func (p *progress) Abandon() {
	if p != nil {
		_ = p.bar.Exit()
	}
}

type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(int64(n))
	return n, err
}
