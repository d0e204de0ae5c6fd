package stream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
)

// store is the tusd DataStore over a bucket.
type store struct {
	cfg   Config
	log   *slog.Logger
	locks *gatedLocker // tusd's locker; WriteChunk opens its holder's release gate

	quotaMu sync.Mutex
	quotas  map[string]*confQuota // by conference, while in use (see quota.go)
}

// tusID is the id tusd sees: it makes tusd's Location header the upload's URL under
// the /v1/conferences/ base path.
func tusID(conf, id string) string { return conf + "/uploads/" + id }

func splitTusID(s string) (conf, id string, err error) {
	conf, id, ok := strings.Cut(s, "/uploads/")
	if !ok || ValidateUploadID(id) != nil || conf == "" || strings.Contains(conf, "/") {
		return "", "", handler.ErrNotFound
	}
	return conf, id, nil
}

// NewUpload creates the info object of a new upload: it chooses the content name and
// key, checks the engine's limits, and writes the record with a create-only put.
func (s *store) NewUpload(ctx context.Context, fi handler.FileInfo) (handler.Upload, error) {
	ctx, release := ownContext(ctx)
	defer release()
	rs := stateOf(ctx)
	if rs == nil {
		return nil, errors.New("stream: request without upload state")
	}
	p, err := parsePurpose(fi.MetaData["purpose"])
	if err != nil {
		return nil, invalidInput(err)
	}
	if p == conference.HandoutContent {
		// Checked now, not first at completion: a handout the engine can never
		// record would otherwise be uploaded whole and then refused.
		if err := conference.ValidateHandoutFilename(fi.MetaData["filename"]); err != nil {
			return nil, invalidInput(fmt.Errorf("metadata filename: %w", err))
		}
	}
	size := fi.Size
	if fi.SizeIsDeferred {
		size = -1
	}
	// The conference's unfinished uploads are counted and this one's record stored
	// under one hold, so that concurrent creations in this process count each other.
	q, done := s.quota(rs.conf)
	defer done()
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := s.checkCreate(ctx, rs.conf, p, size, q); err != nil {
		return nil, err
	}
	name, err := conference.NewContentName(p, contentExt(fi.MetaData))
	if err != nil {
		return nil, tusError(ctx, err)
	}
	id, err := newUploadID()
	if err != nil {
		return nil, err
	}
	key, err := encryption.NewKey()
	if err != nil {
		return nil, err
	}
	// A writer made only to draw a fresh header (salt, nonce prefix); its segments
	// are written later, PATCH by PATCH, by ResumeWriter.
	w, err := encryption.NewWriter(io.Discard, key)
	if err != nil {
		return nil, err
	}
	sealed, err := sealSecret(s.cfg.UploadKey, secret{Upload: binding(rs.conf, id), Key: key.Hex(), Metadata: fi.MetaData, Owner: rs.owner})
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	rec := &record{
		Version: recordVersion, Conference: rs.conf, ID: id, Purpose: purposeName(p), Name: name,
		Size: size, Created: now, Expires: now.Add(s.cfg.Expiry), Header: w.Header(), Secret: sealed,
		Append: s.cfg.Bucket.CanAppend(),
	}
	u := &upload{s: s, conf: rs.conf, id: id, rec: rec, key: key, meta: fi.MetaData, owner: rs.owner, purpose: p}
	if u.header, err = encryption.ParseHeader(rec.Header); err != nil {
		return nil, err
	}
	if err := u.putRecord(ctx, storage.Condition{IfNotExists: s.cfg.Bucket.Capabilities().ConditionalCreate}); err != nil {
		return nil, tusError(ctx, err)
	}
	// A delete of the conference that ran since the check above may have emptied
	// its upload folder before the record was there, where nothing would ever find
	// it. So the conference is looked at again: a delete that has begun by now
	// answers not found (the engine opens no conference being deleted), and one that
	// begins later lists the folder after the record is in it.
	if _, err := s.cfg.Engine.Location(ctx, rs.conf); err != nil {
		if errors.Is(err, conference.ErrNotFound) {
			if rerr := s.remove(context.WithoutCancel(ctx), rs.conf, id); rerr != nil {
				s.log.Warn("the upload record of a deleted conference could not be removed", "conference", rs.conf, "upload", id, "err", rerr)
			}
		}
		return nil, confError(ctx, err)
	}
	rs.expires = rec.Expires
	rs.created = tusID(rs.conf, id)
	return u, nil
}

// contentExt is the content type of slide content: the metadata's ext (which must be
// valid), else the filename's extension if it is a valid type, else "bin". Handouts
// ignore it (they are stored as .blb).
func contentExt(m map[string]string) string {
	if ext := m["ext"]; ext != "" {
		return ext
	}
	if i := strings.LastIndexByte(m["filename"], '.'); i >= 0 {
		ext := strings.ToLower(m["filename"][i+1:])
		if _, err := conference.NewContentName(conference.SlideContent, ext); err == nil {
			return ext
		}
	}
	return "bin"
}

// GetUpload loads an upload's state from storage: its record, its parts and its tail.
// It is called under the upload's lock, so the state stays true for the request.
func (s *store) GetUpload(ctx context.Context, tid string) (handler.Upload, error) {
	ctx, release := ownContext(ctx)
	defer release()
	conf, id, err := splitTusID(tid)
	if err != nil {
		return nil, err
	}
	rs := stateOf(ctx)
	if rs == nil || rs.conf != conf {
		return nil, handler.ErrNotFound
	}
	u, err := s.load(ctx, conf, id)
	if errors.Is(err, errDamagedUpload) && rs.method == http.MethodDelete {
		// A damaged upload can still be terminated: removal needs only its folder.
		return &upload{s: s, conf: conf, id: id, rec: &record{Size: -1}}, nil
	}
	if err != nil {
		return nil, err
	}
	if !rs.admin && rs.owner != "" && u.owner != "" && rs.owner != u.owner {
		return nil, errNotOwner
	}
	rs.expires = u.rec.Expires
	if u.rec.Refused != nil && rs.method != http.MethodDelete {
		return nil, refusedError(u.rec.Refused)
	}
	if u.rec.Done != nil {
		rs.result = u.result()
	} else if u.complete() && (rs.method == "HEAD" || rs.method == "PATCH") {
		// Every byte is stored but the completion was interrupted (a crash, the
		// engine refusing): finish now, so that the client is not left with an
		// upload that is full and can never complete.
		if err := u.FinishUpload(ctx); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (s *store) load(ctx context.Context, conf, id string) (*upload, error) {
	prefix := uploadPrefix(conf, id)
	data, attrs, err := s.cfg.Bucket.ReadAll(ctx, prefix+infoObject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, handler.ErrNotFound
	}
	if err != nil {
		return nil, tusError(ctx, err)
	}
	rec := &record{}
	if err := json.Unmarshal(data, rec); err != nil || rec.Version != recordVersion || rec.Conference != conf || rec.ID != id {
		s.log.Warn("upload record unreadable", slog.String("upload", binding(conf, id)))
		return nil, errDamagedUpload
	}
	u := &upload{s: s, conf: conf, id: id, rec: rec, version: attrs.Version}
	if !s.cfg.Now().Before(rec.Expires) {
		s.remove(context.WithoutCancel(ctx), conf, id)
		return nil, errExpired
	}
	sec, key, err := openSecret(s.cfg.UploadKey, rec.Secret, conf, id)
	for _, prev := range s.cfg.PreviousUploadKeys {
		if err == nil {
			break
		}
		// Sealed before a KEK rotation: the key it was sealed with still opens it.
		sec, key, err = openSecret(prev, rec.Secret, conf, id)
	}
	if err != nil {
		s.log.Warn("upload record does not open", slog.String("upload", binding(conf, id)), slog.String("error", err.Error()))
		return nil, errDamagedUpload
	}
	u.key, u.meta, u.owner = key, sec.Metadata, sec.Owner
	if u.purpose, err = parsePurpose(rec.Purpose); err != nil {
		return nil, errDamagedUpload
	}
	if u.header, err = encryption.ParseHeader(rec.Header); err != nil {
		return nil, errDamagedUpload
	}
	if rec.Done != nil || rec.Refused != nil {
		return u, nil
	}
	if err := u.scan(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

// remove deletes everything of an upload, the record first so that the upload is gone
// for the protocol at once; leftovers of a failed removal are the engine sweep's.
func (s *store) remove(ctx context.Context, conf, id string) error {
	prefix := uploadPrefix(conf, id)
	if err := s.cfg.Bucket.Delete(ctx, prefix+infoObject); err != nil {
		return err
	}
	var keys []string
	for attrs, err := range s.cfg.Bucket.List(ctx, prefix) {
		if err != nil {
			return err
		}
		switch strings.TrimPrefix(attrs.Key, prefix) {
		case lockObject, unlockObject: // the lock's holder removes these
		default:
			keys = append(keys, attrs.Key)
		}
	}
	var errs []error
	for _, k := range keys {
		if err := s.cfg.Bucket.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// AsTerminatableUpload enables the termination extension.
func (s *store) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*upload)
}

// AsLengthDeclarableUpload enables the creation-defer-length extension.
func (s *store) AsLengthDeclarableUpload(u handler.Upload) handler.LengthDeclarableUpload {
	return u.(*upload)
}

type part struct {
	key   string
	first uint64
	size  int64
}

// upload is one upload's state as loaded from storage.
type upload struct {
	s       *store
	conf    string
	id      string
	rec     *record
	version string // of the info object
	key     encryption.Key
	header  encryption.Header
	meta    map[string]string
	owner   string
	purpose conference.Purpose

	parts       []part
	segments    uint64 // whole segments stored in parts
	cipherLen   int64  // bytes of those segments
	plainSegs   int64  // plaintext bytes in those segments
	tail        []byte // plaintext after them (from the sealed tail object)
	hasTail     bool   // a tail object exists (possibly stale)
	final       bool   // the last part ends with the final segment: all data is stored
	adopted     bool   // the one part is already the content file (see findAdopted)
	dataVersion string // of part 0, in append mode: the version the next Append names

	stored *conference.Stored // set by the direct path
}

func (u *upload) prefix() string { return uploadPrefix(u.conf, u.id) }

func (u *upload) offset() int64 {
	if u.rec.Done != nil || u.final {
		return u.rec.Size
	}
	return u.plainSegs + int64(len(u.tail))
}

func (u *upload) complete() bool { return u.rec.Size >= 0 && u.offset() == u.rec.Size }

// scan lists the upload's objects and derives how far it got. The part objects are
// the commit points: a part that reached storage counts even if the request that wrote
// it failed afterwards, so the resume point never moves back over a stored segment
// (whose nonce must not be used again for other bytes).
func (u *upload) scan(ctx context.Context) error {
	prefix := u.prefix()
	for attrs, err := range u.s.cfg.Bucket.List(ctx, prefix) {
		if err != nil {
			return tusError(ctx, err)
		}
		name := strings.TrimPrefix(attrs.Key, prefix)
		switch {
		case strings.HasPrefix(name, partPrefix):
			first, err := strconv.ParseUint(name[len(partPrefix):], 10, 32)
			if err != nil {
				continue // not ours
			}
			u.parts = append(u.parts, part{key: attrs.Key, first: first, size: attrs.Size})
		case name == tailObject:
			u.hasTail = true
		}
	}
	if u.rec.Append {
		return u.scanAppended(ctx)
	}
	seg := int64(u.header.SegmentSize())
	for i, p := range u.parts {
		if p.first != u.segments {
			return u.damaged("part %d where part %d was expected", p.first, u.segments)
		}
		// Part 0 begins with the header, which makes segment 0 with it one segment
		// long: every part but a final one spans whole segments of the file.
		segBytes := p.size
		if p.first == 0 {
			segBytes -= encryption.HeaderSize
		}
		if p.size <= 0 || segBytes <= 0 {
			return u.damaged("part %d is empty", p.first)
		}
		u.cipherLen += segBytes
		if p.size%seg != 0 {
			if i != len(u.parts)-1 || !u.endsWithFinal() {
				return u.damaged("part %d is not whole segments", p.first)
			}
			u.final = true
			break
		}
		u.segments += uint64(p.size / seg)
	}
	if len(u.parts) == 0 && u.rec.Adopting {
		return u.findAdopted(ctx)
	}
	if u.final {
		return nil // complete: the tail, if any is left, is stale
	}
	rp, err := u.header.ResumePoint(encryption.HeaderSize + u.cipherLen)
	if err != nil || rp.Segments != u.segments || rp.CiphertextOffset != encryption.HeaderSize+u.cipherLen {
		return u.damaged("parts do not end on a segment boundary")
	}
	u.plainSegs = rp.PlaintextOffset
	if u.hasTail {
		tail, err := u.readTail(ctx)
		if err != nil {
			return err
		}
		u.tail = tail
	}
	return nil
}

// endsWithFinal reports whether the stored parts (u.cipherLen) make the complete
// ciphertext of the declared length: the last part then ends with the final segment,
// which is never a whole segment long, so the two cases cannot be confused.
func (u *upload) endsWithFinal() bool {
	if u.rec.Size < 0 {
		return false
	}
	want, err := u.header.CiphertextSize(u.rec.Size)
	return err == nil && want == encryption.HeaderSize+u.cipherLen
}

// findAdopted handles a one-part upload whose part is gone after completion began:
// the engine renamed it into the content file and the process stopped before the
// record said done. The content file is then the upload, if it has its size.
func (u *upload) findAdopted(ctx context.Context) error {
	loc, err := u.s.cfg.Engine.Location(ctx, u.conf)
	if err != nil {
		return confError(ctx, err)
	}
	attrs, err := u.s.cfg.Bucket.Stat(ctx, loc.ContentKey(u.rec.Name))
	if errors.Is(err, storage.ErrNotFound) {
		// Neither the part nor the content file is there (the content was deleted
		// since): nothing of the upload is stored, and it starts again from 0.
		return nil
	}
	if err != nil {
		return tusError(ctx, err)
	}
	want, err := u.header.CiphertextSize(max(u.rec.Size, 0))
	if err != nil || u.rec.Size < 0 || attrs.Size != want {
		return u.damaged("content %s exists with another size", u.rec.Name)
	}
	u.final, u.adopted = true, true
	return nil
}

func (u *upload) damaged(format string, args ...any) error {
	u.s.log.Warn("upload damaged", slog.String("upload", binding(u.conf, u.id)), slog.String("reason", fmt.Sprintf(format, args...)))
	return errDamagedUpload
}

// readTail returns the sealed tail's plaintext if it follows the stored segments. A
// tail sealed after fewer segments is stale (the request that wrote a later part
// failed before replacing it): its bytes are inside that part already.
func (u *upload) readTail(ctx context.Context) ([]byte, error) {
	segments, tail, ok, err := u.openTail(ctx)
	if err != nil || !ok || segments != u.segments {
		return nil, err
	}
	return tail, nil
}

// openTail reads the sealed tail: the segment count it follows and its bytes. ok is
// false when there is no tail or it does not open.
func (u *upload) openTail(ctx context.Context) (segments uint64, tail []byte, ok bool, err error) {
	data, _, err := u.s.cfg.Bucket.ReadAll(ctx, u.prefix()+tailObject)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, tusError(ctx, err)
	}
	plain, err := encryption.Open(u.key, data)
	if err != nil || len(plain) < 8 {
		// A tail that does not open is treated as missing: the client is asked for
		// those bytes again. They never had a segment nonce, so nothing is reused.
		u.s.log.Warn("upload tail does not open; ignoring it", slog.String("upload", binding(u.conf, u.id)))
		return 0, nil, false, nil
	}
	return binary.BigEndian.Uint64(plain), plain[8:], true, nil
}

// sealTail encodes a tail: the segment count it follows, then the bytes, sealed with
// the content key under a fresh random salt (so a different subkey than the segments').
func (u *upload) sealTail(segments uint64, tail []byte) ([]byte, error) {
	b := make([]byte, 8+len(tail))
	binary.BigEndian.PutUint64(b, segments)
	copy(b[8:], tail)
	return encryption.Seal(u.key, b)
}

func (u *upload) putRecord(ctx context.Context, cond storage.Condition) error {
	data, err := json.Marshal(u.rec)
	if err != nil {
		return err
	}
	attrs, err := u.s.cfg.Bucket.PutBytes(ctx, u.prefix()+infoObject, data, cond)
	if err != nil {
		return err
	}
	u.version = attrs.Version
	return nil
}

// replaceRecord rewrites the info object if nobody else has since this request read it.
func (u *upload) replaceRecord(ctx context.Context) error {
	var cond storage.Condition
	if u.s.cfg.Bucket.Capabilities().ConditionalReplace && u.version != "" {
		cond.IfVersion = u.version
	}
	return u.putRecord(ctx, cond)
}

// GetInfo reports the upload to tusd.
func (u *upload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	return handler.FileInfo{
		ID:             tusID(u.conf, u.id),
		Size:           max(u.rec.Size, 0),
		SizeIsDeferred: u.rec.Size < 0,
		Offset:         u.offset(),
		MetaData:       u.meta,
	}, nil
}

// GetReader is not offered: downloads go through the content routes, decrypted by the
// client. (tusd's GET route is disabled.)
func (u *upload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// Terminate removes everything of the upload.
func (u *upload) Terminate(ctx context.Context) error {
	ctx, release := ownContext(ctx)
	defer release()
	return tusError(ctx, u.s.remove(ctx, u.conf, u.id))
}

// DeclareLength sets a deferred Upload-Length, checked against the engine's limits.
func (u *upload) DeclareLength(ctx context.Context, length int64) error {
	ctx, release := ownContext(ctx)
	defer release()
	if err := u.checkDeclare(ctx, length); err != nil {
		return err
	}
	if length < u.offset() {
		return handler.ErrInvalidUploadLength
	}
	u.rec.Size = length
	return tusError(ctx, u.replaceRecord(ctx))
}
