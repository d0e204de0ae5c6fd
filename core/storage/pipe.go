package storage

import (
	"errors"
	"io"
	"sync"
)

// Pipe feeds a Put or an Append from a writer in another goroutine (an encrypter),
// with a little read-ahead so that the two overlap: the writer produces the next
// bytes while the backend stores the previous ones. io.Pipe hands over one Write at
// a time and blocks the writer until the reader has taken all of it, which makes
// producing and storing take turns, and gives the backend one small write (an
// encrypted 64 KiB segment) per call. Measured on the disk backend, encrypt + store
// of 256 MiB ran at 0.58–0.63 of a raw put through io.Pipe, 0.75–0.85 through this
// (docs/benchmarks.md).
//
// The writer fills chunks of PipeChunkSize bytes, and at most PipeDepth filled
// chunks wait for the reader, so a pipe holds at most PipeDepth+2 chunks (those
// waiting, the one being filled, the one being stored). The reader side implements
// io.WriterTo, so that a backend copying with io.Copy writes whole chunks.
//
// A writer that produces its bytes in place (the encrypter) asks for room in the
// chunk being filled with Room and hands it over with Commit, which saves a copy of
// the stream (encryption.RoomLender; docs/benchmarks.md).
//
// One goroutine writes and one reads. The writer ends the stream with CloseWrite;
// the reader gives up with CloseRead, which makes the writer's Write fail.
type Pipe struct {
	full chan []byte   // filled chunks, in order; closed by CloseWrite
	free chan []byte   // chunks the reader is done with, for the writer to reuse
	done chan struct{} // closed by CloseRead

	cur []byte // the chunk being filled (writer side)

	chunk, pending []byte // the chunk being read and what is left of it (reader side)

	mu          sync.Mutex
	werr, rerr  error // the writer's and the reader's close errors
	writeClosed bool
	readClosed  bool
}

// PipeChunkSize and PipeDepth size a Pipe: 1 MiB per stream at most.
const (
	PipeChunkSize = 256 << 10
	PipeDepth     = 2
)

// errPipeWriteClosed is what Write answers after CloseWrite.
var errPipeWriteClosed = errors.New("storage: write on a pipe closed for writing")

// NewPipe returns an empty pipe.
func NewPipe() *Pipe {
	return &Pipe{
		full: make(chan []byte, PipeDepth),
		free: make(chan []byte, PipeDepth+2),
		done: make(chan struct{}),
	}
}

// Write copies b into chunks, handing each full one to the reader; it blocks while
// PipeDepth chunks wait, and fails with the reader's error once it gave up.
func (p *Pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	closed := p.writeClosed
	p.mu.Unlock()
	if closed {
		return 0, errPipeWriteClosed
	}
	written := 0
	for len(b) > 0 {
		if p.cur == nil {
			p.cur = p.freeChunk()
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur = p.cur[:len(p.cur)+k]
		b, written = b[k:], written+k
		if len(p.cur) == cap(p.cur) {
			if err := p.send(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// Room lends the writer the free part of the chunk being filled, at least n bytes,
// so that it can produce its next bytes in place (the encrypter seals a segment
// straight into it) and hand them over with Commit, instead of writing them from a
// buffer of its own, which costs a copy of the whole stream. A chunk with less room
// is handed to the reader as it is first. The result has length 0; it fails like
// Write once the reader gave up or the stream was closed.
func (p *Pipe) Room(n int) ([]byte, error) {
	p.mu.Lock()
	closed := p.writeClosed
	p.mu.Unlock()
	if closed {
		return nil, errPipeWriteClosed
	}
	if p.cur != nil && cap(p.cur)-len(p.cur) < n {
		if len(p.cur) == 0 {
			p.cur = nil // too small, and nothing in it to hand over
		} else if err := p.send(); err != nil {
			return nil, err
		}
	}
	if p.cur == nil {
		p.cur = p.freeChunk()
		if cap(p.cur) < n {
			p.cur = make([]byte, 0, n)
		}
	}
	return p.cur[len(p.cur):len(p.cur)], nil
}

// Commit hands over the first n bytes of the room Room lent (at most the n it was
// asked for).
func (p *Pipe) Commit(n int) error {
	p.cur = p.cur[:len(p.cur)+n]
	if len(p.cur) == cap(p.cur) {
		return p.send()
	}
	return nil
}

// freeChunk returns an empty chunk, one the reader is done with if there is one.
func (p *Pipe) freeChunk() []byte {
	select {
	case c := <-p.free:
		return c
	default:
		return make([]byte, 0, PipeChunkSize)
	}
}

func (p *Pipe) send() error {
	select {
	case <-p.done:
		return p.readError()
	default:
	}
	select {
	case p.full <- p.cur:
		p.cur = nil
		return nil
	case <-p.done:
		return p.readError()
	}
}

func (p *Pipe) readError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rerr == nil {
		return io.ErrClosedPipe
	}
	return p.rerr
}

// CloseWrite ends the stream: with err nil the reader gets what was written and then
// io.EOF; otherwise it gets err after the chunks already handed over (the last,
// partly filled one is dropped). Only the first call counts.
func (p *Pipe) CloseWrite(err error) {
	p.mu.Lock()
	if p.writeClosed {
		p.mu.Unlock()
		return
	}
	p.writeClosed = true
	p.mu.Unlock()
	if err == nil && len(p.cur) > 0 {
		err = p.send()
	}
	p.cur = nil
	p.mu.Lock()
	p.werr = err
	p.mu.Unlock()
	close(p.full)
}

// Read implements io.Reader.
func (p *Pipe) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(p.pending) == 0 {
		c, err := p.next()
		if err != nil {
			return 0, err
		}
		p.chunk, p.pending = c, c
	}
	n := copy(b, p.pending)
	p.pending = p.pending[n:]
	if len(p.pending) == 0 {
		p.recycle(p.chunk)
		p.chunk = nil
	}
	return n, nil
}

// WriteTo implements io.WriterTo: it hands whole chunks to w until the writer's end,
// and returns nil at a clean end, the writer's error otherwise.
func (p *Pipe) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(p.pending) > 0 {
		n, err := w.Write(p.pending)
		total += int64(n)
		p.recycle(p.chunk)
		p.chunk, p.pending = nil, nil
		if err != nil {
			return total, err
		}
	}
	for {
		c, err := p.next()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, err := w.Write(c)
		total += int64(n)
		p.recycle(c)
		if err != nil {
			return total, err
		}
	}
}

// next returns the next filled chunk, or, once all are taken, the writer's close
// error (io.EOF for a clean end).
func (p *Pipe) next() ([]byte, error) {
	if c, ok := <-p.full; ok {
		return c, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.werr != nil {
		return nil, p.werr
	}
	return nil, io.EOF
}

func (p *Pipe) recycle(c []byte) {
	if cap(c) != PipeChunkSize {
		return
	}
	select {
	case p.free <- c[:0]:
	default:
	}
}

// CloseRead gives up reading: a Write waiting or to come fails with err
// (io.ErrClosedPipe if nil). Only the first call counts.
func (p *Pipe) CloseRead(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readClosed {
		return
	}
	p.readClosed, p.rerr = true, err
	close(p.done)
}
