package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
)

// The layout (docs/format.md has the full description):
//
//	prefix  8 bytes  "LECT" | version 0x01 | log2(segment size) | 0x00 0x00
//	header 40 bytes  0x28 | salt (32 bytes) | nonce prefix (7 bytes)
//	segment 0        ciphertext of SegmentSize-48-16 plaintext bytes + 16-byte tag
//	segment i >= 1   starts at file offset i*SegmentSize; SegmentSize-16 plaintext
//	                 bytes + tag
//	final segment    0 .. capacity-1 plaintext bytes + tag; a full segment is never
//	                 final, so a reader knows a segment is final from its length alone
//
// From the header length byte on, a file is byte for byte a Tink AES256_GCM_HKDF
// streaming-AEAD ciphertext (HKDF-SHA256, 32-byte derived key, ciphertext segment
// size SegmentSize, first segment offset 8) with the 8-byte prefix as associated
// data. Subkey = HKDF-SHA256(ikm=key, salt=salt, info=prefix, 32 bytes); nonce =
// nonce prefix | segment index (uint32 big endian) | final flag (0x00 or 0x01).
const (
	// Version is the format version this package writes and reads.
	Version = 1
	// HeaderSize is the size of prefix plus header; segment 0 starts here.
	HeaderSize = prefixSize + tinkHeaderSize
	// DefaultSegmentSize is the ciphertext segment size of files this package
	// writes: 64 KiB. See docs/format.md for why.
	DefaultSegmentSize = 1 << defaultSegmentLog
	// TagSize is the GCM tag at the end of every segment.
	TagSize = 16

	defaultSegmentLog = 16
	// Readers accept 256 B to 1 MiB segments: small ones keep boundary tests cheap,
	// the upper bound keeps a reader's memory bounded whatever a header claims.
	minSegmentLog = 8
	maxSegmentLog = 20

	prefixSize      = 8
	saltSize        = 32
	noncePrefixSize = 7
	nonceSize       = 12
	tinkHeaderSize  = 1 + saltSize + noncePrefixSize
	maxSegments     = 1 << 32 // the segment index is a uint32
)

var magic = [4]byte{'L', 'E', 'C', 'T'}

// errZeroHeader guards the layout methods against a Header that did not come from
// ParseHeader (its segment size would divide by zero).
var errZeroHeader = fmt.Errorf("%w: zero Header; use ParseHeader", ErrFormat)

// Header is a parsed file header (the first HeaderSize bytes of a file). It holds no
// secret: the salt and nonce prefix are public. It is not authenticated by itself;
// any change to it makes the first segment fail authentication.
type Header struct {
	raw [HeaderSize]byte
	seg int64 // ciphertext segment size
}

// ParseHeader parses and checks the first HeaderSize bytes of a file. Errors match
// ErrFormat (not this format or unsupported parameters) or ErrTruncated (fewer than
// HeaderSize bytes of a file that starts like this format).
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < len(magic) || !bytes.Equal(b[:len(magic)], magic[:]) {
		if len(b) < len(magic) && bytes.HasPrefix(magic[:], b) {
			return Header{}, fmt.Errorf("%w: %d of %d header bytes", ErrTruncated, len(b), HeaderSize)
		}
		return Header{}, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d of %d header bytes", ErrTruncated, len(b), HeaderSize)
	}
	copy(h.raw[:], b[:HeaderSize])
	switch {
	case h.raw[4] != Version:
		return Header{}, fmt.Errorf("%w: unsupported version %d", ErrFormat, h.raw[4])
	case h.raw[5] < minSegmentLog || h.raw[5] > maxSegmentLog:
		return Header{}, fmt.Errorf("%w: unsupported segment size 2^%d", ErrFormat, h.raw[5])
	case h.raw[6] != 0 || h.raw[7] != 0:
		return Header{}, fmt.Errorf("%w: reserved bytes are not zero", ErrFormat)
	case h.raw[prefixSize] != tinkHeaderSize:
		return Header{}, fmt.Errorf("%w: bad header length byte", ErrFormat)
	}
	h.seg = 1 << h.raw[5]
	return h, nil
}

// newHeader builds a header from a segment size log and random salt and nonce prefix.
func newHeader(segLog int, random []byte) Header {
	var h Header
	copy(h.raw[:], magic[:])
	h.raw[4] = Version
	h.raw[5] = byte(segLog)
	h.raw[prefixSize] = tinkHeaderSize
	copy(h.raw[prefixSize+1:], random[:saltSize+noncePrefixSize])
	h.seg = 1 << segLog
	return h
}

// Bytes returns the HeaderSize header bytes.
func (h Header) Bytes() []byte { return bytes.Clone(h.raw[:]) }

// SegmentSize returns the ciphertext segment size.
func (h Header) SegmentSize() int { return int(h.seg) }

func (h Header) prefix() []byte      { return h.raw[:prefixSize] }
func (h Header) salt() []byte        { return h.raw[prefixSize+1 : prefixSize+1+saltSize] }
func (h Header) noncePrefix() []byte { return h.raw[prefixSize+1+saltSize : HeaderSize] }

// aead derives the file's subkey and returns AES-256-GCM under it. Binding the
// prefix through the HKDF info and the salt through the HKDF salt means another
// header (another file's, or this one edited) yields another subkey.
func (h Header) aead(key Key) (cipher.AEAD, error) {
	sub, err := hkdfSubkey(key, h)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sub)
	clear(sub)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	return cipher.NewGCM(block)
}

func hkdfSubkey(key Key, h Header) ([]byte, error) {
	sub, err := hkdf.Key(sha256.New, key[:], h.salt(), string(h.prefix()), KeySize)
	if err != nil {
		return nil, fmt.Errorf("encryption: deriving subkey: %w", err)
	}
	return sub, nil
}

// nonce writes the nonce of segment i into dst (nonceSize bytes).
func (h Header) nonce(dst []byte, i uint64, final bool) {
	copy(dst, h.noncePrefix())
	binary.BigEndian.PutUint32(dst[noncePrefixSize:], uint32(i))
	dst[nonceSize-1] = 0
	if final {
		dst[nonceSize-1] = 1
	}
}

// Layout arithmetic. Segment 0 holds first := seg-HeaderSize-TagSize plaintext
// bytes, every later segment capacity := seg-TagSize.

func (h Header) firstCap() int64 { return h.seg - HeaderSize - TagSize }
func (h Header) segCap() int64   { return h.seg - TagSize }

// segmentOf returns the index of the segment holding plaintext offset off.
func (h Header) segmentOf(off int64) uint64 {
	if off < h.firstCap() {
		return 0
	}
	return 1 + uint64((off-h.firstCap())/h.segCap())
}

// plainStart returns the plaintext offset where segment i starts.
func (h Header) plainStart(i uint64) int64 {
	if i == 0 {
		return 0
	}
	return h.firstCap() + int64(i-1)*h.segCap()
}

// cipherStart returns the file offset where segment i starts.
func (h Header) cipherStart(i uint64) int64 {
	if i == 0 {
		return HeaderSize
	}
	return int64(i) * h.seg
}

// fullCipherLen is the ciphertext length of segment i when it is not final.
func (h Header) fullCipherLen(i uint64) int64 {
	if i == 0 {
		return h.seg - HeaderSize
	}
	return h.seg
}

// CiphertextSize returns the file size for a plaintext of the given size.
func (h Header) CiphertextSize(plaintextSize int64) (int64, error) {
	if h.seg == 0 {
		return 0, errZeroHeader
	}
	if plaintextSize < 0 {
		return 0, fmt.Errorf("%w: negative size", ErrTooLarge)
	}
	final := h.segmentOf(plaintextSize) // the final segment is never full
	if final >= maxSegments || plaintextSize > math.MaxInt64/2 {
		return 0, fmt.Errorf("%w: plaintext too large for the format", ErrTooLarge)
	}
	return h.cipherStart(final) + (plaintextSize - h.plainStart(final)) + TagSize, nil
}

// PlaintextSize returns the plaintext size of a complete file of the given size. A
// size no complete file can have yields ErrTruncated.
func (h Header) PlaintextSize(ciphertextSize int64) (int64, error) {
	_, n, err := h.finalSegment(ciphertextSize)
	return n, err
}

// finalSegment returns the index of the final segment and the plaintext size of a
// complete file of size ciphertextSize.
func (h Header) finalSegment(ciphertextSize int64) (uint64, int64, error) {
	if h.seg == 0 {
		return 0, 0, errZeroHeader
	}
	if ciphertextSize < HeaderSize+TagSize {
		return 0, 0, fmt.Errorf("%w: %d bytes cannot hold a header and a segment", ErrTruncated, ciphertextSize)
	}
	final := uint64(ciphertextSize / h.seg)
	tail := ciphertextSize - h.cipherStart(final)
	if tail < TagSize {
		// Ends on a segment boundary (a full segment is never final) or within
		// the first TagSize bytes of a segment.
		return 0, 0, fmt.Errorf("%w: file ends without a final segment", ErrTruncated)
	}
	if final >= maxSegments {
		return 0, 0, fmt.Errorf("%w: more than 2^32 segments", ErrFormat)
	}
	return final, h.plainStart(final) + tail - TagSize, nil
}

// CiphertextRange returns the file byte range [start, start+length) holding the
// segments that cover plaintext bytes [off, off+n) of a complete file of size
// ciphertextSize; n == -1 means to the end. A range running past the end is cut at
// the end. A range that reaches the end always includes the final segment (even an
// empty one), so that decrypting it proves the file is complete. Fetch those bytes
// (a ranged Get) and pass them to NewRangeReader with the same arguments.
func (h Header) CiphertextRange(ciphertextSize, off, n int64) (start, length int64, err error) {
	first, last, _, _, err := h.plan(ciphertextSize, off, n)
	if err != nil || last < first {
		return 0, 0, err
	}
	end := ciphertextSize
	if final, _, _ := h.finalSegment(ciphertextSize); last < final {
		end = h.cipherStart(last + 1)
	}
	start = h.cipherStart(first)
	return start, end - start, nil
}

// plan validates a plaintext range and returns the covering segments (last < first
// for an empty range), the final segment index and the plaintext range cut to the
// file.
func (h Header) plan(ciphertextSize, off, n int64) (first, last, final uint64, cut int64, err error) {
	final, size, err := h.finalSegment(ciphertextSize)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if off < 0 || off > size || n < -1 {
		return 0, 0, 0, 0, fmt.Errorf("%w: range %d+%d outside plaintext of %d bytes", ErrTooLarge, off, n, size)
	}
	if n == -1 || n > size-off {
		n = size - off
	}
	if off+n == size {
		// A range reaching the end includes the final segment, even when it holds
		// no plaintext: authenticating it proves the file was not cut.
		return h.segmentOf(off), final, final, n, nil
	}
	if n == 0 {
		return 1, 0, final, 0, nil
	}
	return h.segmentOf(off), h.segmentOf(off + n - 1), final, n, nil
}

// ResumePoint says where an interrupted Writer can continue.
type ResumePoint struct {
	// Segments is the number of complete segments; pass it to ResumeWriter.
	Segments uint64
	// CiphertextOffset is how many bytes of the file to keep; anything after it
	// (a partly written segment) must be dropped before writing on.
	CiphertextOffset int64
	// PlaintextOffset is where the resumed writer's plaintext starts (for tus,
	// the Upload-Offset to report to the client).
	PlaintextOffset int64
}

// ResumePoint returns where to resume a file of which written bytes survived from a
// Writer that was never closed. It is plain arithmetic: it does not check that the
// bytes are intact.
func (h Header) ResumePoint(written int64) (ResumePoint, error) {
	if h.seg == 0 {
		return ResumePoint{}, errZeroHeader
	}
	if written < HeaderSize {
		return ResumePoint{}, fmt.Errorf("%w: the header itself is incomplete; start a new file", ErrTruncated)
	}
	segs := uint64(0)
	if written >= h.seg {
		segs = uint64(written / h.seg)
	}
	return ResumePoint{Segments: segs, CiphertextOffset: h.cipherStart(segs), PlaintextOffset: h.plainStart(segs)}, nil
}

// defaultHeader has the layout of every file this package writes; only its layout
// methods are used (its salt is zero).
var defaultHeader = newHeader(defaultSegmentLog, make([]byte, saltSize+noncePrefixSize))

// CiphertextSize returns the file size this package's writers produce for a
// plaintext of the given size.
func CiphertextSize(plaintextSize int64) (int64, error) {
	return defaultHeader.CiphertextSize(plaintextSize)
}

// PlaintextSize returns the plaintext size of a complete file of the given size
// written by this package's writers (default segment size). For a file of unknown
// origin, use ParseHeader and Header.PlaintextSize.
func PlaintextSize(ciphertextSize int64) (int64, error) {
	return defaultHeader.PlaintextSize(ciphertextSize)
}
