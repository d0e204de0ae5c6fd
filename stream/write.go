package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
)

// WriteChunk stores one PATCH's body. It returns how many bytes of it are durably
// stored (in whole segments or in the sealed tail), which is what tusd adds to the
// offset; a body cut short by the client is stored as far as it got.
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	ctx, release := ownContext(ctx)
	defer release()
	if u.s.locks != nil {
		// tusd has made this request's body reader: it may now be interrupted.
		u.s.locks.openGate(tusID(u.conf, u.id))
	}
	n, err := u.writeChunk(ctx, offset, src)
	if rs := stateOf(ctx); err == nil && rs != nil && (rs.contentLength < 0 || n < rs.contentLength) {
		// The body ended before its length (or has none to compare with): the client
		// went away, or tusd stopped the request. tusd also stops it when this
		// instance loses the upload's lease because the upload's folder was removed
		// meanwhile (a conference deleted during the PATCH): what it stored since
		// must not stay behind the removed record. A body that arrived whole is not
		// checked, to spare every PATCH a Stat.
		if verr := u.orVanished(ctx, errBodyCut); errors.Is(verr, handler.ErrNotFound) {
			return 0, verr
		}
		return n, nil
	}
	if err = u.orVanished(ctx, err); errors.Is(err, handler.ErrNotFound) {
		n = 0
	}
	return n, err
}

// errBodyCut is what WriteChunk hands orVanished for a body that ended early; it is
// never answered.
var errBodyCut = errors.New("stream: the request body ended early")

// orVanished checks, after a failed step, whether the upload's record is gone: the
// upload was removed while the request worked on it (terminated through another
// instance, or its conference deleted). What the request wrote after the removal
// would stay in a folder nothing lists any more, so it is removed, and the answer is
// 404. Any other failure is returned as it is.
//
// The check and the removal run even when the request's context has ended (the
// client left), but within backgroundTimeout: the failure may be a storage server
// that hangs, and the handler must still end.
func (u *upload) orVanished(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	bg := context.WithoutCancel(ctx)
	sctx, cancel := context.WithTimeout(bg, backgroundTimeout)
	_, serr := u.s.cfg.Bucket.Stat(sctx, u.prefix()+infoObject)
	cancel()
	if !errors.Is(serr, storage.ErrNotFound) {
		return err
	}
	rctx, cancel := context.WithTimeout(bg, backgroundTimeout)
	defer cancel()
	if rerr := u.s.remove(rctx, u.conf, u.id); rerr != nil {
		u.s.log.Warn("what a request wrote into a removed upload could not be removed", slog.String("upload", binding(u.conf, u.id)), slog.String("error", rerr.Error()))
	}
	return handler.ErrNotFound
}

func (u *upload) writeChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	if u.rec.Done != nil {
		return 0, handler.ErrUploadNotFinished // never reached: tusd answers a full upload itself
	}
	if offset != u.offset() {
		return 0, handler.ErrMismatchOffset
	}
	if u.rec.Size < 0 {
		// tusd bounds a deferred-length body by Tus-Max-Size only; the purpose's own
		// per-file limit (handouts have a lower one) and the conference quota left
		// to unfinished uploads are enforced here.
		capped, release, err := u.deferredCap(ctx, offset, src)
		if err != nil {
			return 0, err
		}
		defer release()
		src = capped
	}
	rs := stateOf(ctx)
	if rs != nil && rs.checksum != nil {
		return u.writeVerified(ctx, src, rs.checksum, rs.contentLength)
	}
	if u.direct(rs, offset) {
		return u.writeDirect(ctx, src)
	}
	return u.appendData(ctx, src)
}

// direct reports whether this PATCH carries the whole upload from byte 0 and is small
// enough to stream straight into the content store.
func (u *upload) direct(rs *reqState, offset int64) bool {
	max := u.s.cfg.DirectMax
	return rs != nil && max >= 0 && offset == 0 && len(u.parts) == 0 && len(u.tail) == 0 &&
		u.rec.Size >= 0 && u.rec.Size <= max && rs.contentLength == u.rec.Size
}

// writeDirect is the one-write path: the engine encrypts the body as it streams into
// the content file. If the body ends early nothing is stored and the offset stays 0.
func (u *upload) writeDirect(ctx context.Context, src io.Reader) (int64, error) {
	body := &exactReader{r: src, left: u.rec.Size}
	// An earlier attempt may have stored the whole content and failed before the
	// record said so (a crash, the record's update failing): the offset is then still
	// 0 and the client sends everything again. That content may already back a
	// handout or be referenced by a slide set (its URL and key were announced), so it
	// cannot be replaced (the engine refuses to delete it): it is recognised instead,
	// as the completion of parts does, and the resent body — the same bytes, by the
	// tus contract, under the same name and key — is read and dropped.
	st, ok, err := u.storedBefore(ctx)
	if err != nil {
		return 0, err
	}
	if ok {
		if _, err := io.Copy(io.Discard, body); err != nil {
			if body.short {
				return 0, nil // as below: nothing of a cut body counts
			}
			return 0, tusError(ctx, err)
		}
		u.stored = &st
		return u.rec.Size, nil
	}
	// A content file of another size is no complete earlier attempt; the name is
	// this upload's own, so replacing it is safe.
	if err := u.s.cfg.Engine.DeleteContent(ctx, u.conf, u.rec.Name); err != nil && !errors.Is(err, conference.ErrNotFound) {
		return 0, confError(ctx, err)
	}
	st, err = u.s.cfg.Engine.StoreContentAs(ctx, u.conf, u.purpose, u.rec.Name, u.key, body, u.rec.Size)
	if err != nil {
		if body.short {
			// The body ended before its length: the client's connection dropped, or
			// tusd stopped this request for a newer one on the same upload. Nothing is
			// stored, and no storage error is claimed: tusd answers with the body's
			// own error when the store reports none.
			return 0, nil
		}
		// A refusal of the engine's (bad input, a limit, an ended conference) is
		// final, as at the completion of an upload in parts.
		return 0, u.refuse(ctx, engineError(ctx, err))
	}
	u.stored = &st
	return u.rec.Size, nil
}

// storedBefore reports whether the upload's content file exists whole, as an earlier
// direct attempt stored it, and describes it if so.
func (u *upload) storedBefore(ctx context.Context) (conference.Stored, bool, error) {
	loc, err := u.s.cfg.Engine.Location(ctx, u.conf)
	if err != nil {
		return conference.Stored{}, false, confError(ctx, err)
	}
	attrs, err := u.s.cfg.Bucket.Stat(ctx, loc.ContentKey(u.rec.Name))
	if errors.Is(err, storage.ErrNotFound) {
		return conference.Stored{}, false, nil
	}
	if err != nil {
		return conference.Stored{}, false, tusError(ctx, err)
	}
	want, err := u.header.CiphertextSize(u.rec.Size)
	if err != nil || attrs.Size != want {
		return conference.Stored{}, false, nil
	}
	st := conference.Stored{Name: u.rec.Name, Key: u.key, Size: u.rec.Size, URLPath: loc.ContentURLPath(u.rec.Name), Purpose: u.purpose}
	// The store that left it may have been cut short before its compliance copy.
	if err := u.s.cfg.Engine.FinishStored(ctx, u.conf, st); err != nil {
		return conference.Stored{}, false, engineError(ctx, err)
	}
	return st, true, nil
}

// exactReader fails with io.ErrUnexpectedEOF if its source ends before left bytes
// (tusd's body reader turns a dropped connection into a plain EOF), and says so in
// short.
type exactReader struct {
	r     io.Reader
	left  int64
	short bool
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = io.ErrUnexpectedEOF
		e.short = true
	}
	return n, err
}

// segmentCapacity is the plaintext a segment holds: segment 0 is shorter by the header.
func (u *upload) segmentCapacity(index uint64) int {
	c := u.header.SegmentSize() - encryption.TagSize
	if index == 0 {
		c -= encryption.HeaderSize
	}
	return c
}

// appendData encrypts src after the stored segments: the previous tail and src are cut
// into whole segments, which go into new part objects (create-only, so a stored
// segment can never be replaced; a new part every PartMax, each a commit point), and
// what is left over becomes the new sealed tail — unless this request brings the
// upload to its declared length: then the rest is sealed as the final segment at the
// end of the last part, and the parts together are the finished content file.
func (u *upload) appendData(ctx context.Context, src io.Reader) (int64, error) {
	before := u.offset()
	segs := u.segments
	buf := make([]byte, u.header.SegmentSize())
	fill := copy(buf, u.tail)
	var read int64
	var pp *partPut
	var srcErr error
	for {
		capacity := u.segmentCapacity(segs)
		n, err := io.ReadFull(src, buf[fill:capacity])
		fill += n
		read += int64(n)
		if fill == capacity {
			if pp == nil {
				if pp, err = u.startPart(ctx, segs); err != nil {
					return 0, err
				}
			}
			if _, err := pp.w.Write(buf[:capacity]); err != nil {
				pp.abort(err)
				return 0, tusError(ctx, pp.wait())
			}
			segs++
			fill = 0
			if !pp.appended && segs-pp.first >= u.partSegments() {
				// The part is full: store it now, so that it counts whatever
				// becomes of the rest of the request.
				if err := pp.finish(ctx, segs, false); err != nil {
					return 0, err
				}
				u.addPart(pp, segs, false)
				pp = nil
			}
			continue
		}
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			srcErr = err
		}
		break
	}
	if srcErr != nil {
		// A source that fails (not a client that stops: tusd reports that as EOF)
		// stores nothing of this request.
		if pp != nil {
			pp.abort(srcErr)
			_ = pp.wait()
		}
		return 0, srcErr
	}
	if stateOf(ctx).overRead(read) {
		// The body went on past Upload-Length; tusd cut it there and answers 413.
		// Sealing the final segment would complete the upload from a refused body:
		// nothing more of it is stored (parts this request already stored, one per
		// PartMax, stay, as for any cut request: their segments' nonces are used).
		if pp != nil {
			pp.abort(errFileLimit)
			_ = pp.wait()
		}
		return u.offset() - before, nil
	}
	final := u.rec.Size >= 0 && before+read == u.rec.Size
	if final {
		if pp == nil {
			var err error
			if pp, err = u.startPart(ctx, segs); err != nil {
				return 0, err
			}
		}
		_, err := pp.w.Write(buf[:fill])
		if err == nil {
			err = pp.w.Close() // the final segment
		}
		if err != nil {
			pp.abort(err)
			_ = pp.wait()
			return 0, tusError(ctx, err)
		}
	}
	if pp != nil {
		if err := pp.finish(ctx, segs, final); err != nil {
			return 0, err
		}
		u.addPart(pp, segs, final)
	}
	if final {
		if u.rec.Append {
			// The tail stays until the upload is finished: it names the segments
			// before this request's, so that a reload checks only those after them.
			return u.offset() - before, nil
		}
		// The tail's bytes are in the final segment now. A tail left behind (this
		// delete failing) is ignored: a final part makes the upload complete.
		if err := u.setTail(ctx, nil); err != nil {
			u.s.log.Warn("upload tail not removed", slog.String("upload", binding(u.conf, u.id)), slog.String("error", err.Error()))
		}
		return u.offset() - before, nil
	}
	err := u.setTail(ctx, buf[:fill])
	return u.offset() - before, tusError(ctx, err)
}

func boolToUint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// addPart records a part that is now stored (or the bytes now appended to part 0):
// whole segments up to end, and the final segment too when final.
func (u *upload) addPart(pp *partPut, end uint64, final bool) {
	segBytes := pp.size - pp.offset
	switch {
	case pp.appended:
		u.parts[0].size = pp.size
	case pp.first == 0:
		segBytes -= encryption.HeaderSize
		fallthrough
	default:
		u.parts = append(u.parts, part{key: pp.key, first: pp.first, size: pp.size})
	}
	u.dataVersion = pp.version
	u.segments = end
	u.cipherLen += segBytes
	u.tail = nil // its bytes are in the part now
	if final {
		u.final = true
		return
	}
	if rp, err := u.header.ResumePoint(encryption.HeaderSize + u.cipherLen); err == nil {
		u.plainSegs = rp.PlaintextOffset
	}
}

// setTail replaces the sealed tail (or removes it when the data ends on a segment
// boundary, except in append mode, where the tail is the commit record of part 0).
func (u *upload) setTail(ctx context.Context, tail []byte) error {
	key := u.prefix() + tailObject
	if len(tail) == 0 && !u.rec.Append {
		if !u.hasTail {
			return nil
		}
		if err := u.s.cfg.Bucket.Delete(ctx, key); err != nil {
			return err
		}
		u.hasTail = false
		return nil
	}
	sealed, err := u.sealTail(u.segments, tail)
	if err != nil {
		return err
	}
	if _, err := u.s.cfg.Bucket.PutBytes(ctx, key, sealed, storage.Condition{}); err != nil {
		return err
	}
	u.tail = append([]byte(nil), tail...)
	u.hasTail = true
	return nil
}

// partPut is a part object being written: the segment writer feeds a pipe that a
// create-only put drains. Part 0 begins with the file's header, so that the parts
// concatenated are the content file and a one-part upload can become it by a rename.
// In append mode the pipe is drained by an Append to part 0 instead, once part 0
// exists.
type partPut struct {
	key      string
	first    uint64
	appended bool          // an Append to part 0 at offset
	offset   int64         // where this put's bytes start in the object
	pipe     *storage.Pipe // the encrypter writes, the Put or Append reads
	w        *encryption.Writer
	done     chan error
	size     int64  // the object's size, once done
	version  string // the object's version, once done
}

func (u *upload) startPart(ctx context.Context, first uint64) (*partPut, error) {
	if u.rec.Append && len(u.parts) == 0 {
		if err := u.createPart0(ctx); err != nil {
			return nil, err
		}
	}
	pipe := storage.NewPipe()
	w, err := encryption.ResumeWriter(pipe, u.key, u.rec.Header, first)
	if err != nil {
		return nil, err
	}
	pp := &partPut{key: u.prefix() + partName(first), first: first, pipe: pipe, w: w, done: make(chan error, 1)}
	if u.rec.Append && len(u.parts) == 1 {
		pp.key, pp.appended, pp.offset = u.parts[0].key, true, u.segmentStart(first)
		go func() {
			attrs, err := u.s.cfg.Bucket.Append(ctx, pp.key, pp.offset, pipe, u.dataVersion)
			pipe.CloseRead(errors.New("append ended")) // unblocks the writer if the append gave up
			pp.size, pp.version = attrs.Size, attrs.Version
			pp.done <- err
		}()
		return pp, nil
	}
	var body io.Reader = pipe
	if first == 0 {
		body = io.MultiReader(bytes.NewReader(u.rec.Header), pipe)
	}
	cond := storage.Condition{IfNotExists: u.s.cfg.Bucket.Capabilities().ConditionalCreate}
	go func() {
		attrs, err := u.s.cfg.Bucket.Put(ctx, pp.key, body, storage.PutOptions{Condition: cond, Size: -1})
		pipe.CloseRead(errors.New("put ended")) // unblocks the writer if the put gave up
		pp.size, pp.version = attrs.Size, attrs.Version
		pp.done <- err
	}()
	return pp, nil
}

// createPart0 begins an append-mode upload's part 0 with the file's header alone, so
// that its first request appends its segments too, instead of putting them in one
// create-only put: what an append wrote survives a crash of the process (kill -9),
// and scanAppended counts it as far as it authenticates, whereas a put's temporary
// file is lost with the process. So a crash during a long first PATCH (the CLI sends
// a whole file in one) loses at most its last segments, not all of it.
func (u *upload) createPart0(ctx context.Context) error {
	key := u.prefix() + partName(0)
	cond := storage.Condition{IfNotExists: u.s.cfg.Bucket.Capabilities().ConditionalCreate}
	attrs, err := u.s.cfg.Bucket.PutBytes(ctx, key, u.rec.Header, cond)
	if errors.Is(err, storage.ErrPrecondition) {
		return errStorageConflict // another writer got past the lock
	}
	if err != nil {
		return tusError(ctx, err)
	}
	u.parts = append(u.parts, part{key: key, first: 0, size: attrs.Size})
	u.dataVersion = attrs.Version
	return nil
}

// partSegments is how many segments one part object holds at most (Config.PartMax).
func (u *upload) partSegments() uint64 {
	return max(1, uint64(u.s.cfg.PartMax/int64(u.header.SegmentSize())))
}

// finish ends the part after its writer emitted the segments up to segs (and the
// final one when final) and waits until it is stored.
func (pp *partPut) finish(ctx context.Context, segs uint64, final bool) error {
	if want := segs + boolToUint(final); pp.w.Segments() != want {
		pp.abort(errors.New("segment count mismatch"))
		_ = pp.wait()
		return fmt.Errorf("stream: writer emitted %d segments, expected %d", pp.w.Segments(), want)
	}
	pp.pipe.CloseWrite(nil)
	return tusError(ctx, pp.wait())
}

// abort makes the put fail, which leaves nothing behind.
func (pp *partPut) abort(err error) { pp.pipe.CloseWrite(err) }

func (pp *partPut) wait() error {
	err := <-pp.done
	if errors.Is(err, storage.ErrPrecondition) {
		// Only a second writer that got past the lock can have made this part (or
		// changed part 0 since this request read its version).
		return errStorageConflict
	}
	return err
}

// writeVerified handles a PATCH with Upload-Checksum. Its bytes cannot be encrypted
// into segments before the checksum is known: a rejected body would have used the
// segments' nonces for other plaintext than the retry's. So the body is first sealed
// into a stage object under a fresh random salt (its own subkey) while it is hashed;
// only a verified body is then decrypted from the stage and appended. A mismatch stores
// nothing and answers 460.
func (u *upload) writeVerified(ctx context.Context, src io.Reader, cs *checksum, contentLength int64) (int64, error) {
	key := u.prefix() + stageObject
	h := cs.newHash()
	counted := &countingReader{r: src}
	src = counted
	pipe := storage.NewPipe()
	sealed := make(chan struct{})
	go func() {
		defer close(sealed)
		w, err := encryption.NewWriter(pipe, u.key)
		if err == nil {
			_, err = io.Copy(w, io.TeeReader(src, h))
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		pipe.CloseWrite(err)
	}()
	_, err := u.s.cfg.Bucket.Put(ctx, key, pipe, storage.PutOptions{Size: -1})
	pipe.CloseRead(errors.New("put ended"))
	// The body is tusd's again once this returns, and h must be complete: wait for
	// the sealer to stop reading, even when the put gave up early.
	<-sealed
	if err != nil {
		return 0, tusError(ctx, err)
	}
	defer func() {
		if err := u.s.cfg.Bucket.Delete(context.WithoutCancel(ctx), key); err != nil {
			u.s.log.Warn("upload stage not removed", slog.String("upload", binding(u.conf, u.id)), slog.String("error", err.Error()))
		}
	}()
	if stateOf(ctx).overRead(counted.n) {
		// The body went on past Upload-Length (tusd cut it there): it is refused
		// with 413, not judged by its checksum.
		return 0, nil
	}
	if contentLength >= 0 && counted.n < contentLength {
		// The body was cut (a dropped connection, or tusd stopped this request for a
		// newer one): its checksum cannot match, and saying so would blame the client's
		// bytes. Nothing is stored; tusd answers with the body's own error.
		return 0, nil
	}
	if !cs.matches(h.Sum(nil)) {
		return 0, errChecksumMismatch
	}
	rc, _, err := u.s.cfg.Bucket.Get(ctx, key, 0, -1)
	if err != nil {
		return 0, tusError(ctx, err)
	}
	defer rc.Close()
	r, err := encryption.NewReader(rc, u.key)
	if err != nil {
		return 0, tusError(ctx, err)
	}
	return u.appendData(ctx, r)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
