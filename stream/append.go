package stream

import (
	"context"
	"log/slog"

	"github.com/lectern/lectern/core/encryption"
)

// Append mode (record.Append): on a backend with storage.Appender the whole upload
// grows in place in part 0. The first request that has whole segments creates part
// 0 (create-only, header first); every later one appends its segments at the end
// of what is committed and then writes the sealed tail, which names the segment
// count and so is the commit record. The bytes are written once however many
// requests bring them, and a finished upload's part 0 is its content file.

// segmentStart is where segment i starts in the file (segment 0 after the header).
func (u *upload) segmentStart(i uint64) int64 {
	if i == 0 {
		return encryption.HeaderSize
	}
	return int64(i) * int64(u.header.SegmentSize())
}

// scanAppended derives an append-mode upload's state from part 0 and the tail. Part
// 0 may hold more than the tail names: a request that failed between its append and
// its tail, or that was cut off during the append. Those bytes count as far as they
// authenticate, segment by segment, so that — as with create-only parts — the resume
// point never moves back over a segment that reached storage intact (its nonce must
// not be used again for other bytes); a torn end is cut by the next append.
func (u *upload) scanAppended(ctx context.Context) error {
	if len(u.parts) > 1 || len(u.parts) == 1 && u.parts[0].first != 0 {
		return u.damaged("an upload written in place has parts other than part 0")
	}
	committed, tail, tailOK, err := u.openTail(ctx)
	if err != nil {
		return err
	}
	if !tailOK {
		committed, tail = 0, nil
	}
	if len(u.parts) == 0 {
		if u.rec.Adopting {
			return u.findAdopted(ctx)
		}
		if committed != 0 {
			return u.damaged("the tail follows %d segments but part 0 is missing", committed)
		}
		u.tail = tail
		return nil
	}
	p := &u.parts[0]
	attrs, err := u.s.cfg.Bucket.Stat(ctx, p.key)
	if err != nil {
		return tusError(ctx, err)
	}
	u.dataVersion = attrs.Version
	start := u.segmentStart(committed)
	if attrs.Size < start {
		return u.damaged("part 0 holds %d bytes, fewer than the %d its tail names", attrs.Size, start)
	}
	segments, final := committed, false
	if attrs.Size > start {
		rc, _, err := u.s.cfg.Bucket.Get(ctx, p.key, start, -1)
		if err != nil {
			return tusError(ctx, err)
		}
		whole, fin, err := u.header.IntactSegments(u.key, rc, committed)
		rc.Close()
		if err != nil {
			return tusError(ctx, err)
		}
		segments, final = committed+whole, fin
		u.s.log.Info("upload: bytes past the committed segments checked", slog.String("upload", binding(u.conf, u.id)),
			slog.Uint64("committed_segments", committed), slog.Uint64("intact_segments", whole), slog.Bool("final", fin))
	}
	u.segments = segments
	end := u.segmentStart(segments)
	if final {
		end = attrs.Size
	}
	p.size = end
	u.cipherLen = end - encryption.HeaderSize
	if final {
		if !u.endsWithFinal() {
			return u.damaged("part 0 ends with a final segment at %d bytes, not at the upload's length", end)
		}
		u.final = true
		return nil
	}
	rp, err := u.header.ResumePoint(end)
	if err != nil {
		return u.damaged("part 0 does not end on a segment boundary")
	}
	u.plainSegs = rp.PlaintextOffset
	if tailOK && committed == segments {
		u.tail = tail // else stale: its bytes are in the segments found after it
	}
	return nil
}
