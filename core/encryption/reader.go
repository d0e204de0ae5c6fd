package encryption

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
)

// Reader decrypts a stream. It releases a segment's plaintext only after the
// segment's tag has been verified, and stops with an error at the first bad
// segment. It holds one segment in memory. Not safe for concurrent use.
type Reader struct {
	src   io.Reader
	h     Header
	aead  cipher.AEAD
	buf   []byte // ciphertext of the current segment, then its plaintext in place
	out   []byte // verified plaintext not yet returned (a window of buf)
	index uint64
	nonce [nonceSize]byte
	err   error // sticky; io.EOF after the final segment
	done  bool  // the final segment has been verified

	// Range mode (NewRangeReader): the final segment's index is known from the
	// file size, so lengths come from the layout instead of from where src ends.
	sized    bool
	final    uint64
	finalLen int64  // ciphertext length of the final segment
	last     uint64 // last segment to read
	skip     int64  // plaintext bytes to drop from the first segment
	left     int64  // plaintext bytes still to return
}

// NewReader reads and checks the header from src and returns a Reader for the
// plaintext. Read returns io.EOF only after the final segment has been verified and
// src has ended; a file cut anywhere fails with ErrTruncated or ErrAuthentication.
func NewReader(src io.Reader, key Key) (*Reader, error) {
	hb := make([]byte, HeaderSize)
	n, err := io.ReadFull(src, hb)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("encryption: reading header: %w", err)
	}
	h, err := ParseHeader(hb[:n])
	if err != nil {
		return nil, err
	}
	aead, err := h.aead(key)
	if err != nil {
		return nil, err
	}
	return &Reader{src: src, h: h, aead: aead, buf: make([]byte, h.seg)}, nil
}

// NewRangeReader decrypts plaintext bytes [off, off+n) (n == -1: to the end) of a
// complete file of size ciphertextSize whose header is h, reading only the covering
// segments from src: exactly the bytes Header.CiphertextRange(ciphertextSize, off, n)
// names, which is where src must start. Every covering segment is authenticated,
// including the final flag of the last segment when the range reaches it.
func NewRangeReader(src io.Reader, key Key, h Header, ciphertextSize, off, n int64) (*Reader, error) {
	first, last, final, cut, err := h.plan(ciphertextSize, off, n)
	if err != nil {
		return nil, err
	}
	aead, err := h.aead(key)
	if err != nil {
		return nil, err
	}
	r := &Reader{src: src, h: h, aead: aead, buf: make([]byte, h.seg),
		sized: true, final: final, finalLen: ciphertextSize - h.cipherStart(final),
		index: first, last: last, left: cut}
	if last < first {
		r.err = io.EOF
	} else {
		r.skip = off - h.plainStart(first)
	}
	return r, nil
}

// Header returns the file's header.
func (r *Reader) Header() Header { return r.h }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	k := copy(p, r.out)
	r.out = r.out[k:]
	return k, nil
}

// WriteTo lets io.Copy skip an intermediate buffer.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(r.out) == 0 {
			if r.err != nil {
				if r.err == io.EOF {
					return total, nil
				}
				return total, r.err
			}
			r.err = r.next()
		}
		k, err := w.Write(r.out)
		total += int64(k)
		r.out = r.out[k:]
		if err != nil {
			return total, err
		}
	}
}

// next reads, verifies and decrypts one segment into r.out. It returns io.EOF
// after the last wanted segment.
func (r *Reader) next() error {
	if r.sized {
		return r.nextSized()
	}
	if r.done {
		return io.EOF
	}
	full := r.h.fullCipherLen(r.index)
	n, err := io.ReadFull(r.src, r.buf[:full])
	final := false
	switch {
	case err == nil:
		// A full segment is never final.
		if r.index+1 >= maxSegments {
			return fmt.Errorf("%w: more than 2^32 segments", ErrFormat)
		}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if n < TagSize {
			return fmt.Errorf("%w: file ends before the final segment (segment %d)", ErrTruncated, r.index)
		}
		final = true
	default:
		return fmt.Errorf("encryption: reading segment %d: %w", r.index, err)
	}
	if err := r.open(r.buf[:n], final); err != nil {
		return err
	}
	r.done = final
	return nil
}

func (r *Reader) nextSized() error {
	if r.index > r.last {
		return io.EOF
	}
	final := r.index == r.final
	size := r.h.fullCipherLen(r.index)
	if final {
		// The file size is known, so the final segment's length follows from it.
		size = r.finalLen
	}
	if _, err := io.ReadFull(r.src, r.buf[:size]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: ciphertext range ends inside segment %d", ErrTruncated, r.index)
		}
		return fmt.Errorf("encryption: reading segment %d: %w", r.index, err)
	}
	if err := r.open(r.buf[:size], final); err != nil {
		return err
	}
	if r.skip > 0 {
		r.out = r.out[min(r.skip, int64(len(r.out))):]
		r.skip = 0
	}
	if int64(len(r.out)) > r.left {
		r.out = r.out[:r.left]
	}
	r.left -= int64(len(r.out))
	return nil
}

// open authenticates and decrypts ct (in r.buf) in place, sets r.out and advances.
// On failure GCM has released nothing: Go's Open wipes its output on a bad tag.
func (r *Reader) open(ct []byte, final bool) error {
	r.h.nonce(r.nonce[:], r.index, final)
	pt, err := r.aead.Open(ct[:0], r.nonce[:], ct, nil)
	if err != nil {
		return fmt.Errorf("%w: segment %d", ErrAuthentication, r.index)
	}
	r.out = pt
	r.index++
	return nil
}

// Open decrypts a whole file held in memory (for .exml files).
func Open(key Key, ciphertext []byte) ([]byte, error) {
	h, err := ParseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	size, err := h.PlaintextSize(int64(len(ciphertext)))
	if err != nil {
		return nil, err
	}
	r, err := NewReader(bytes.NewReader(ciphertext), key)
	if err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := r.WriteTo(out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// IntactSegments reads ciphertext from src, which starts where segment first of a
// file with header h starts, and reports how many whole segments authenticate one
// after the other, and whether they are followed by a final segment that
// authenticates and ends src. It stops at the first segment that does not
// authenticate: what follows a torn write is not trusted. It is how a writer that
// appends to a file in place finds how much of an interrupted append survived;
// err is only ever a failure to read src.
func (h Header) IntactSegments(key Key, src io.Reader, first uint64) (whole uint64, final bool, err error) {
	aead, err := h.aead(key)
	if err != nil {
		return 0, false, err
	}
	buf := make([]byte, h.seg)
	var nonce [nonceSize]byte
	for i := first; i < maxSegments; i++ {
		full := h.fullCipherLen(i)
		n, err := io.ReadFull(src, buf[:full])
		switch {
		case err == nil:
			h.nonce(nonce[:], i, false)
			if _, err := aead.Open(buf[:0], nonce[:], buf[:n], nil); err != nil {
				return whole, false, nil
			}
			whole++
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			if n < TagSize {
				return whole, false, nil
			}
			h.nonce(nonce[:], i, true)
			_, err := aead.Open(buf[:0], nonce[:], buf[:n], nil)
			return whole, err == nil, nil
		default:
			return whole, false, fmt.Errorf("encryption: reading segment %d: %w", i, err)
		}
	}
	return whole, false, nil
}
