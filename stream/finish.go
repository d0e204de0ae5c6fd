package stream

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
)

// Result is what a finished upload answers: the stored content, its key and, for a
// handout, the handout's id. It goes to the uploader only.
type Result struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Key     string `json:"key"`
	Size    int64  `json:"size"`
	Purpose string `json:"purpose"`
	Handout string `json:"handout,omitempty"`
}

func (u *upload) result() *Result {
	d := u.rec.Done
	return &Result{Name: u.rec.Name, URL: d.URL, Key: u.key.Hex(), Size: d.Size, Purpose: u.rec.Purpose, Handout: d.Handout}
}

// FinishUpload stores the content through the engine (unless the direct path already
// did), records a handout, marks the record done and removes the parts. Each step can
// be repeated after a crash: the parts are the same bytes every time, so a content
// file left by an earlier attempt is taken as stored.
func (u *upload) FinishUpload(ctx context.Context) error {
	ctx, release := ownContext(ctx)
	defer release()
	return u.orVanished(ctx, u.finish(ctx))
}

func (u *upload) finish(ctx context.Context) error {
	if u.rec.Done != nil {
		return nil
	}
	st := u.stored
	if st == nil {
		s, err := u.storeParts(ctx)
		if err != nil {
			return u.refuse(ctx, err)
		}
		st = &s
	}
	done := &doneRecord{Size: st.Size, URL: st.URLPath}
	if u.purpose == conference.HandoutContent {
		id, err := u.addHandout(ctx, st)
		if err != nil {
			return u.refuse(ctx, err)
		}
		done.Handout = id
	}
	u.rec.Done = done
	u.rec.Adopting = false
	if err := u.replaceRecord(ctx); err != nil {
		u.rec.Done = nil
		return tusError(ctx, err)
	}
	for _, p := range u.parts {
		if err := u.s.cfg.Bucket.Delete(ctx, p.key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			u.s.log.Warn("upload part not removed", slog.String("upload", binding(u.conf, u.id)), slog.String("error", err.Error()))
		}
	}
	if u.hasTail {
		_ = u.s.cfg.Bucket.Delete(ctx, u.prefix()+tailObject)
	}
	u.parts, u.tail = nil, nil
	if rs := stateOf(ctx); rs != nil {
		rs.result = u.result()
	}
	u.s.log.Info("upload stored", slog.String("upload", binding(u.conf, u.id)), slog.String("content", u.rec.Name), slog.Int64("size", st.Size))
	return nil
}

// refuse handles a completion the engine refused for good (a refusal): otherwise
// every later HEAD, PATCH and /result would run the completion again and get the same
// answer, with the parts (and a blob the engine stored before refusing to record it)
// left until the upload expires. The content stored under the upload's own name is
// deleted, the record is marked refused (later requests answer 410 with the reason;
// DELETE still terminates), and the parts and tail are removed. This request answers
// the engine's refusal itself. Any other error is returned as it is.
func (u *upload) refuse(ctx context.Context, err error) error {
	var r *refusal
	if !errors.As(err, &r) {
		return err
	}
	var te handler.Error
	errors.As(r.answer, &te)
	log := u.s.log.With(slog.String("upload", binding(u.conf, u.id)))
	log.Warn("upload refused at completion", slog.String("reason", te.Message))
	if derr := u.s.cfg.Engine.DeleteContent(ctx, u.conf, u.rec.Name); derr != nil && !errors.Is(derr, conference.ErrNotFound) {
		log.Warn("content of a refused upload not removed", slog.String("error", derr.Error()))
	}
	u.rec.Refused = &refusedRecord{Status: te.HTTPResponse.StatusCode, Message: te.Message}
	u.rec.Adopting = false
	if perr := u.replaceRecord(ctx); perr != nil {
		// Unmarked, the next request completes again and is refused again.
		u.rec.Refused = nil
		log.Warn("refused upload not marked", slog.String("error", perr.Error()))
		return r.answer
	}
	for attrs, lerr := range u.s.cfg.Bucket.List(ctx, u.prefix()) {
		if lerr != nil {
			break
		}
		switch strings.TrimPrefix(attrs.Key, u.prefix()) {
		case infoObject, lockObject, unlockObject:
		default:
			if derr := u.s.cfg.Bucket.Delete(ctx, attrs.Key); derr != nil {
				log.Warn("object of a refused upload not removed", slog.String("key", attrs.Key), slog.String("error", derr.Error()))
			}
		}
	}
	u.parts, u.tail, u.hasTail = nil, nil, false
	return r.answer
}

// addHandout records the stored blob as a handout. A completion that crashed after
// the handout was added finds it on the retry (the engine refuses a second handout on
// one blob with ErrInUse) and answers with the same handout.
func (u *upload) addHandout(ctx context.Context, st *conference.Stored) (string, error) {
	fs, err := u.s.cfg.Engine.AddHandout(ctx, u.conf, conference.HandoutParams{
		Blob: st.Ref(), Size: st.Size, OriginalFilename: u.meta["filename"], UploadedBy: u.owner,
	})
	if err == nil {
		return fs.ID, nil
	}
	if !errors.Is(err, conference.ErrInUse) {
		return "", engineError(ctx, err)
	}
	list, lerr := u.s.cfg.Engine.ListHandouts(ctx, u.conf)
	if lerr != nil {
		return "", confError(ctx, lerr)
	}
	for _, fs := range list {
		if !fs.Deleted && fs.Blob.Name == u.rec.Name {
			return fs.ID, nil
		}
	}
	return "", confError(ctx, err)
}

// storeParts hands the finished parts to the engine, which makes them the content
// file: one part is renamed into place where the backend can (a single-PATCH upload,
// and every upload in append mode, is then written once), several are composed inside
// the storage where it can, and otherwise copied one after the other.
func (u *upload) storeParts(ctx context.Context) (conference.Stored, error) {
	if !u.final {
		// Every byte arrived but no request sealed the final segment: an empty
		// upload, or a deferred length declared after the data.
		if err := u.writeFinal(ctx); err != nil {
			return conference.Stored{}, err
		}
	}
	total, err := u.header.CiphertextSize(u.rec.Size)
	if err != nil || total != encryption.HeaderSize+u.cipherLen && !u.adopted {
		return conference.Stored{}, u.damaged("parts hold %d bytes for %d plaintext bytes", encryption.HeaderSize+u.cipherLen, u.rec.Size)
	}
	if u.adopted {
		return u.alreadyStored(ctx, total)
	}
	if len(u.parts) == 1 && u.s.cfg.Bucket.CanMove() && !u.rec.Adopting {
		// The engine renames a single part: say so before, so that a crash right
		// after the rename is recognised.
		u.rec.Adopting = true
		if err := u.replaceRecord(ctx); err != nil {
			u.rec.Adopting = false
			return conference.Stored{}, tusError(ctx, err)
		}
	}
	keys := make([]string, len(u.parts))
	for i, p := range u.parts {
		keys[i] = p.key
	}
	st, err := u.s.cfg.Engine.AdoptEncrypted(ctx, u.conf, u.purpose, u.rec.Name, u.key, keys, u.rec.Size)
	if errors.Is(err, storage.ErrPrecondition) {
		return u.alreadyStored(ctx, total)
	}
	if err != nil {
		return conference.Stored{}, engineError(ctx, err)
	}
	return st, nil
}

// writeFinal stores the final segment (made from the tail) as the last part.
func (u *upload) writeFinal(ctx context.Context) error {
	pp, err := u.startPart(ctx, u.segments)
	if err != nil {
		return err
	}
	_, err = pp.w.Write(u.tail)
	if err == nil {
		err = pp.w.Close()
	}
	if err != nil {
		pp.abort(err)
		_ = pp.wait()
		return tusError(ctx, err)
	}
	pp.pipe.CloseWrite(nil)
	if err := pp.wait(); err != nil {
		return tusError(ctx, err)
	}
	u.addPart(pp, u.segments, true)
	return nil
}

// alreadyStored accepts a content file an interrupted earlier completion left, if it
// has the size the parts have (they are the same bytes).
func (u *upload) alreadyStored(ctx context.Context, size int64) (conference.Stored, error) {
	loc, err := u.s.cfg.Engine.Location(ctx, u.conf)
	if err != nil {
		return conference.Stored{}, confError(ctx, err)
	}
	attrs, err := u.s.cfg.Bucket.Stat(ctx, loc.ContentKey(u.rec.Name))
	if err != nil {
		return conference.Stored{}, tusError(ctx, err)
	}
	if attrs.Size != size {
		return conference.Stored{}, u.damaged("content %s exists with another size", u.rec.Name)
	}
	st := conference.Stored{Name: u.rec.Name, Key: u.key, Size: u.rec.Size, URLPath: loc.ContentURLPath(u.rec.Name), Purpose: u.purpose}
	// The store that left it may have been cut short before its compliance copy.
	if err := u.s.cfg.Engine.FinishStored(ctx, u.conf, st); err != nil {
		return conference.Stored{}, engineError(ctx, err)
	}
	return st, nil
}
