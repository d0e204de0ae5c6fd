package encryption

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
)

// Writer encrypts a stream. It holds one segment of buffered plaintext at most
// (DefaultSegmentSize bytes), so memory is constant whatever the file size.
// A Writer is not safe for concurrent use.
type Writer struct {
	dst    io.Writer
	h      Header
	aead   cipher.AEAD
	buf    []byte // plaintext of the current segment, then its ciphertext in place
	n      int    // plaintext bytes buffered
	index  uint64 // index of the segment being filled
	nonce  [nonceSize]byte
	err    error // sticky: set after a failed write to dst or Close
	closed bool
}

// NewWriter writes a new header with a random salt and nonce prefix to dst and
// returns a Writer for the plaintext. Close must be called to write the final
// segment; without it the file is incomplete (and can be resumed, see
// ResumeWriter). An empty plaintext gives a header and one empty final segment.
func NewWriter(dst io.Writer, key Key) (*Writer, error) {
	return newWriter(dst, key, defaultSegmentLog, rand.Reader)
}

// newWriter lets tests choose the segment size and the randomness (test vectors).
func newWriter(dst io.Writer, key Key, segLog int, random io.Reader) (*Writer, error) {
	r := make([]byte, saltSize+noncePrefixSize)
	if _, err := io.ReadFull(random, r); err != nil {
		return nil, fmt.Errorf("encryption: reading random salt: %w", err)
	}
	h := newHeader(segLog, r)
	w, err := writerAt(dst, key, h, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(h.raw[:]); err != nil {
		return nil, fmt.Errorf("encryption: writing header: %w", err)
	}
	return w, nil
}

// ResumeWriter continues a file whose Writer was interrupted (never closed). header
// is the file's first HeaderSize bytes, segments the number of complete segments
// already stored; Header.ResumePoint computes it from the stored size, together
// with the ciphertext length to keep and the plaintext offset to continue from.
// dst must append right after those complete segments; the header is not written
// again. The state needed is public (header and a count): no plaintext, no subkey.
//
// Segment nonces are deterministic, so resume from a given point with the same
// plaintext the lost session had (re-sending the same bytes is safe), and never
// keep two different versions of one segment: a segment encrypted twice with
// different plaintext reveals their XOR. Callers must only ever move the resume
// point forward.
func ResumeWriter(dst io.Writer, key Key, header []byte, segments uint64) (*Writer, error) {
	h, err := ParseHeader(header)
	if err != nil {
		return nil, err
	}
	if segments >= maxSegments {
		return nil, fmt.Errorf("%w: segment count %d", ErrTooLarge, segments)
	}
	return writerAt(dst, key, h, segments)
}

func writerAt(dst io.Writer, key Key, h Header, index uint64) (*Writer, error) {
	aead, err := h.aead(key)
	if err != nil {
		return nil, err
	}
	return &Writer{dst: dst, h: h, aead: aead, buf: make([]byte, 0, h.seg), index: index}, nil
}

// Header returns the file header (HeaderSize bytes), which with Segments is all a
// caller must record to resume.
func (w *Writer) Header() []byte { return w.h.Bytes() }

// Segments returns how many complete segments have been written to dst. After a
// crash, every byte up to the end of these segments that reached storage is valid
// ciphertext for ResumeWriter.
func (w *Writer) Segments() uint64 { return w.index }

func (w *Writer) capacity() int {
	return int(w.h.fullCipherLen(w.index)) - TagSize
}

// RoomLender is a destination that lends the Writer room for its next segment, so that
// the segment is sealed in place rather than in the Writer's buffer and then copied
// (storage.Pipe is one). Room returns a buffer of length 0 with a capacity of at least
// n; Commit hands over its first n bytes. Seal must not write past n: AES-GCM writes
// exactly the plaintext's length plus TagSize.
type RoomLender interface {
	io.Writer
	Room(n int) ([]byte, error)
	Commit(n int) error
}

// Write encrypts p. Each segment is written to dst as soon as it is full.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		c := w.capacity()
		if w.n == 0 && len(p) >= c {
			// Whole segment available: seal straight from p, no copy.
			if err := w.seal(p[:c], false); err != nil {
				return written, err
			}
			p, written = p[c:], written+c
			continue
		}
		k := copy(w.buf[w.n:c], p)
		w.n += k
		p, written = p[k:], written+k
		if w.n == c {
			if err := w.seal(w.buf[:c], false); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// seal encrypts pt (which is w.buf or a full segment of the caller's data) into
// w.buf and writes it out.
func (w *Writer) seal(pt []byte, final bool) error {
	if !final && w.index+1 >= maxSegments {
		w.err = fmt.Errorf("%w: plaintext exceeds 2^32 segments", ErrTooLarge)
		return w.err
	}
	w.h.nonce(w.nonce[:], w.index, final)
	var err error
	if lender, ok := w.dst.(RoomLender); ok {
		var room []byte
		if room, err = lender.Room(len(pt) + TagSize); err == nil {
			ct := w.aead.Seal(room, w.nonce[:], pt, nil)
			err = lender.Commit(len(ct))
		}
	} else {
		_, err = w.dst.Write(w.aead.Seal(w.buf[:0], w.nonce[:], pt, nil))
	}
	if err != nil {
		w.err = fmt.Errorf("encryption: writing segment %d: %w", w.index, err)
		return w.err
	}
	w.n = 0
	w.index++
	return nil
}

// Close writes the final segment (the buffered plaintext, possibly empty). It does
// not close dst. After Close, Write and Close return ErrClosed.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	err := w.seal(w.buf[:w.n], true)
	clear(w.buf[:cap(w.buf)])
	return err
}

// Seal encrypts a small plaintext in memory into the same format (for .exml files).
func Seal(key Key, plaintext []byte) ([]byte, error) {
	size, err := CiphertextSize(int64(len(plaintext)))
	if err != nil {
		return nil, err
	}
	out := &fixedBuffer{b: make([]byte, 0, size)}
	w, err := NewWriter(out, key)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.b, nil
}

// fixedBuffer is an append-only writer into a preallocated slice (bytes.Buffer
// would over-allocate for a size known in advance).
type fixedBuffer struct{ b []byte }

func (f *fixedBuffer) Write(p []byte) (int, error) {
	f.b = append(f.b, p...)
	return len(p), nil
}
