package smb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	smb2 "github.com/cloudsoda/go-smb2"
)

// chunkSize is the size of one read or write request: go-smb2 caps requests at 1 MiB,
// what Windows servers accept whatever larger size they announce.
const chunkSize = 1 << 20

// A single request in flight leaves the link idle for a round trip per MiB; a
// transfer therefore keeps several requests in flight on its connection. go-smb2's
// File.ReadAt and WriteAt take no lock and the connection matches responses to
// requests by message id, so concurrent calls on one handle are safe: this is what
// the transfers below do, with a window of InFlight requests.

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// readerError marks a failure of the caller's reader, which is not a storage failure.
type readerError struct{ err error }

func (e *readerError) Error() string { return e.err.Error() }
func (e *readerError) Unwrap() error { return e.err }

// upload copies r into f from offset 0, with up to inflight writes in flight. It stops
// at the first error, or when ctx ends, after the writes in flight have finished. f is
// an *smb2.File, or an io.OffsetWriter over one (Append writes after an offset), on
// the connection tcp: while upload waits for r, only its writes in flight keep tcp
// watched for a server that stopped answering (pool.go), so a slow caller is not
// taken for a hung server.
func upload(ctx context.Context, tcp *watchedConn, f io.WriterAt, r io.Reader, inflight int, sizeHint int64) (int64, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		werr error
		free = make(chan *[]byte, inflight)
		off  int64
	)
	for range inflight {
		free <- nil // a slot; its buffer is taken from the pool on first use
	}
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return werr
	}
	var err error
	for {
		if err = ctx.Err(); err != nil {
			break
		}
		if err = failed(); err != nil {
			break
		}
		var slot *[]byte
		select {
		case slot = <-free:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
		if slot == nil {
			slot = chunkPool.Get().(*[]byte)
		}
		buf := *slot
		if sizeHint >= 0 && sizeHint-off < int64(len(buf)) && sizeHint-off >= 0 {
			// Read one byte more than announced: it tells the end without another read.
			buf = buf[:sizeHint-off+1]
		}
		tcp.disengage()
		n, rerr := io.ReadFull(r, buf)
		tcp.engage()
		if n > 0 {
			wg.Add(1)
			tcp.engage()
			go func(slot *[]byte, b []byte, at int64) {
				defer wg.Done()
				defer tcp.disengage()
				if _, err := f.WriteAt(b, at); err != nil {
					mu.Lock()
					if werr == nil {
						werr = err
					}
					mu.Unlock()
				}
				free <- slot
			}(slot, buf[:n], off)
			off += int64(n)
		} else {
			free <- slot
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = &readerError{rerr}
			break
		}
	}
	wg.Wait()
	for range inflight {
		if slot := <-free; slot != nil {
			chunkPool.Put(slot)
		}
	}
	if err == nil {
		err = failed()
	}
	return off, err
}

// download is the body of a Get: it reads [off, end) of f with up to inflight reads in
// flight, and delivers the bytes in order. Close waits for the reads in flight, closes
// the handle and gives the connection back. Only its reads in flight keep the
// connection watched for a server that stopped answering: a caller may take its time
// between Reads.
type download struct {
	ctx      context.Context // the caller's: every Read checks it
	key      string
	tcp      *watchedConn
	f        *smb2.File
	next     int64 // the next offset to request
	end      int64
	inflight int
	queue    []*chunk
	cur      *chunk
	pos      int
	err      error
	done     func(err error) error // closes f and returns the connection
	closed   bool
}

type chunk struct {
	slot *[]byte
	n    int
	want int
	err  error
	done chan struct{}
}

func (d *download) fill() {
	for len(d.queue) < d.inflight && d.next < d.end {
		want := int(min(int64(chunkSize), d.end-d.next))
		c := &chunk{slot: chunkPool.Get().(*[]byte), want: want, done: make(chan struct{})}
		d.tcp.engage()
		go func(c *chunk, at int64) {
			defer close(c.done)
			defer d.tcp.disengage()
			c.n, c.err = d.f.ReadAt((*c.slot)[:c.want], at)
			if c.n == c.want {
				c.err = nil // io.EOF exactly at the end is no error
			}
		}(c, d.next)
		d.queue = append(d.queue, c)
		d.next += int64(want)
	}
}

func (d *download) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.closed {
		return 0, errors.New("smb: read of a closed body")
	}
	if err := d.ctx.Err(); err != nil {
		d.err = err
		return 0, err
	}
	for d.cur == nil || d.pos == d.cur.n {
		if d.cur != nil {
			chunkPool.Put(d.cur.slot)
			d.cur = nil
		}
		d.fill()
		if len(d.queue) == 0 {
			return 0, io.EOF
		}
		c := d.queue[0]
		d.queue = d.queue[1:]
		select {
		case <-c.done:
		case <-d.ctx.Done():
			<-c.done
			chunkPool.Put(c.slot)
			d.err = d.ctx.Err()
			return 0, d.err
		}
		if c.err != nil || c.n != c.want {
			chunkPool.Put(c.slot)
			if c.err == nil || errors.Is(c.err, io.EOF) {
				c.err = fmt.Errorf("the file ended at %d bytes before its announced size: %w", c.n, io.ErrUnexpectedEOF)
			}
			d.err = classify("get", d.key, c.err)
			return 0, d.err
		}
		d.cur, d.pos = c, 0
		d.fill()
	}
	n := copy(p, (*d.cur.slot)[d.pos:d.cur.n])
	d.pos += n
	return n, nil
}

func (d *download) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	for _, c := range d.queue {
		<-c.done
		chunkPool.Put(c.slot)
	}
	d.queue = nil
	if d.cur != nil {
		chunkPool.Put(d.cur.slot)
		d.cur = nil
	}
	return d.done(d.err)
}

// ctxReader is a body already read: it still honours its context, as a streamed body
// would.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
