package encryption

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ReaderAt gives random access to the plaintext of a complete file. Each ReadAt
// reads and authenticates only the segments it needs; a read that reaches the last
// byte authenticates the final segment, which proves the file was not cut (an
// empty final segment is authenticated by NewReaderAt). It is safe
// for concurrent use; each call holds one segment buffer (pooled).
type ReaderAt struct {
	src   io.ReaderAt
	h     Header
	aead  cipher.AEAD
	size  int64 // plaintext size
	csize int64 // ciphertext size
	final uint64
	pool  sync.Pool

	// The last decrypted segment, so that reads smaller than a segment (io.Copy's
	// 32 KiB, http.ServeContent) decrypt each segment once, not once per read.
	mu       sync.Mutex
	cached   []byte
	cachedAt uint64
	hasCache bool
}

// NewReaderAt reads the header of the file in src, whose total size is
// ciphertextSize, and returns a ReaderAt for its plaintext. A size no complete file
// can have yields ErrTruncated.
func NewReaderAt(src io.ReaderAt, ciphertextSize int64, key Key) (*ReaderAt, error) {
	hb := make([]byte, HeaderSize)
	n, err := src.ReadAt(hb, 0)
	if n < HeaderSize && err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("encryption: reading header: %w", err)
	}
	h, err := ParseHeader(hb[:n])
	if err != nil {
		return nil, err
	}
	final, size, err := h.finalSegment(ciphertextSize)
	if err != nil {
		return nil, err
	}
	aead, err := h.aead(key)
	if err != nil {
		return nil, err
	}
	r := &ReaderAt{src: src, h: h, aead: aead, size: size, csize: ciphertextSize, final: final}
	r.pool.New = func() any { b := make([]byte, h.seg); return &b }
	if h.plainStart(final) == size {
		// The final segment holds no plaintext, so no ReadAt would ever touch
		// it; authenticate it now (16 bytes) so a cut file cannot pass as whole.
		if _, err := r.readSegment(make([]byte, TagSize), final); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Size returns the plaintext size, as implied by the ciphertext size. Reading the
// last byte authenticates it.
func (r *ReaderAt) Size() int64 { return r.size }

// Header returns the file's header.
func (r *ReaderAt) Header() Header { return r.h }

// ReadAt implements io.ReaderAt over the plaintext.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset", ErrTooLarge)
	}
	if off >= r.size {
		if len(p) == 0 && off == r.size {
			return 0, nil
		}
		return 0, io.EOF
	}
	bp := r.pool.Get().(*[]byte)
	defer r.pool.Put(bp)
	buf := *bp
	n := 0
	for n < len(p) && off < r.size {
		i := r.h.segmentOf(off)
		k, ok := r.fromCache(p[n:], i, off-r.h.plainStart(i))
		if !ok {
			pt, err := r.readSegment(buf, i)
			if err != nil {
				return n, err
			}
			k = copy(p[n:], pt[off-r.h.plainStart(i):])
			r.toCache(i, pt)
		}
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readSegment reads, authenticates and decrypts segment i using buf (at least the
// segment's size) and returns its plaintext.
func (r *ReaderAt) readSegment(buf []byte, i uint64) ([]byte, error) {
	final := i == r.final
	clen := r.h.fullCipherLen(i)
	if final {
		clen = r.csize - r.h.cipherStart(i)
	}
	ct := buf[:clen]
	if k, err := r.src.ReadAt(ct, r.h.cipherStart(i)); k < len(ct) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: source shorter than its stated size (segment %d)", ErrTruncated, i)
		}
		return nil, fmt.Errorf("encryption: reading segment %d: %w", i, err)
	}
	var nonce [nonceSize]byte
	r.h.nonce(nonce[:], i, final)
	pt, err := r.aead.Open(ct[:0], nonce[:], ct, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: segment %d", ErrAuthentication, i)
	}
	return pt, nil
}

func (r *ReaderAt) fromCache(p []byte, i uint64, skip int64) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.hasCache || r.cachedAt != i {
		return 0, false
	}
	return copy(p, r.cached[skip:]), true
}

func (r *ReaderAt) toCache(i uint64, pt []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cached = append(r.cached[:0], pt...)
	r.cachedAt, r.hasCache = i, true
}
