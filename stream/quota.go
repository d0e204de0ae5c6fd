package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/storage"
)

// maxRecordSize bounds the read of an upload record while counting: a record is a
// few KiB (its sealed metadata is bounded by the request header size).
const maxRecordSize = 2 << 20

// The engine charges an upload's bytes to its conference's quota only when the
// upload completes. So that unfinished uploads cannot hold more than the quota (N
// uploads each one byte short of it stored N times it until they expired), every
// creation, length declaration and deferred-length PATCH counts what the
// conference's other unfinished uploads hold: their declared lengths, or the bytes
// received so far while a length is deferred. That is derived from the stored upload
// records, not kept in memory, so it survives a restart and is the same on every
// instance; only PATCHes of deferred-length uploads running in this process are
// added from memory, as they grow. A deferred-length PATCH reads the records once,
// when it begins; the creations and length declarations made in this process while it
// runs are recorded in the conference's entry (confQuota.changed), and it adds them
// too, so that it and a creation made meanwhile cannot together pass the quota. The
// number of unfinished uploads per conference is capped too (Config.MaxOpenUploads),
// which also bounds the records read.

// openUploads is what a conference's unfinished uploads hold.
type openUploads struct {
	count int
	bytes [2]int64              // by purpose
	each  map[string]openUpload // by upload id
}

type openUpload struct {
	purpose  conference.Purpose
	bytes    int64
	deferred bool
}

// confQuota serialises a conference's checks in this process, and holds the
// deferred-length PATCHes running in it. Lock order: store.quotaMu before mu.
type confQuota struct {
	// Guarded by store.quotaMu.
	users     int       // holders of the entry
	idleSince time.Time // when users last fell to 0

	mu      sync.Mutex
	running map[string]runningPatch // by upload id: deferred-length PATCHes running
	final   map[string]bool         // ids of uploads known done or refused: never read again

	// changed holds what creations and length declarations added while PATCHes were
	// running (by upload id; a creation, whose id is not known yet at its check, by
	// a key of its own), each with the seq of the change, so that a PATCH adds only
	// those made after its own read of the records. Emptied when no PATCH runs.
	changed map[string]change
	seq     uint64 // of the last change
}

type runningPatch struct {
	purpose conference.Purpose
	bytes   int64 // what the upload holds: offset + bytes taken
}

type change struct {
	openUpload
	seq uint64
}

// record notes, for the PATCHes running, an upload created or whose length was
// declared. Called with q.mu held.
func (q *confQuota) record(id string, ou openUpload) {
	if len(q.running) == 0 {
		return // nobody would read it: later PATCHes read the stored records
	}
	q.seq++
	if id == "" {
		id = "creation " + strconv.FormatUint(q.seq, 10) // not an upload id
	}
	q.changed[id] = change{openUpload: ou, seq: q.seq}
}

// quotaIdleAge is how long the entry of a conference nobody checks is kept for the
// finished uploads it remembers. A conference in use keeps its entry; one deleted, or
// idle longer, has its finished records read once more at its next check.
const quotaIdleAge = 10 * time.Minute

func (s *store) quota(conf string) (*confQuota, func()) {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	if s.quotas == nil {
		s.quotas = map[string]*confQuota{}
	}
	// A walk of the entries at every check: each check lists the conference's
	// uploads in storage anyway, which costs far more than this.
	now := s.cfg.Now()
	for c, q := range s.quotas {
		if q.users == 0 && now.Sub(q.idleSince) >= quotaIdleAge {
			delete(s.quotas, c)
		}
	}
	q, ok := s.quotas[conf]
	if !ok {
		q = &confQuota{running: map[string]runningPatch{}, final: map[string]bool{}, changed: map[string]change{}}
		s.quotas[conf] = q
	}
	q.users++
	return q, func() {
		s.quotaMu.Lock()
		defer s.quotaMu.Unlock()
		if q.users--; q.users > 0 {
			return
		}
		// Kept while it remembers finished uploads, so that their records are not
		// read again at the next check (scanOpen forgets those removed since), until
		// it has been idle quotaIdleAge.
		q.mu.Lock()
		keep := len(q.final) > 0
		q.mu.Unlock()
		if !keep {
			delete(s.quotas, conf)
			return
		}
		q.idleSince = s.cfg.Now()
	}
}

// scanOpen derives the conference's unfinished uploads from storage, except the
// upload except. Called with q.mu held.
func (s *store) scanOpen(ctx context.Context, conf, except string, q *confQuota) (openUploads, error) {
	prefix := layout.UploadRoot + "/" + conf + "/"
	type seen struct {
		info     bool
		received int64
	}
	ids := map[string]*seen{}
	for attrs, err := range s.cfg.Bucket.List(ctx, prefix) {
		if err != nil {
			return openUploads{}, tusError(ctx, err)
		}
		id, name, ok := strings.Cut(strings.TrimPrefix(attrs.Key, prefix), "/")
		if !ok || id == except || ValidateUploadID(id) != nil {
			continue
		}
		u := ids[id]
		if u == nil {
			u = &seen{}
			ids[id] = u
		}
		switch {
		case name == infoObject:
			u.info = true
		case strings.HasPrefix(name, partPrefix), name == tailObject:
			u.received += attrs.Size // ciphertext: a little over the plaintext
		}
	}
	open := openUploads{each: map[string]openUpload{}}
	now := s.cfg.Now()
	for id, u := range ids {
		if !u.info {
			continue // removed, or not yet created
		}
		if q.final[id] {
			continue
		}
		data, _, err := s.cfg.Bucket.ReadAllLimit(ctx, prefix+id+"/"+infoObject, maxRecordSize)
		var tooLarge *storage.TooLargeError
		switch {
		case errors.Is(err, storage.ErrNotFound):
			continue // removed meanwhile
		case errors.As(err, &tooLarge):
			s.log.Warn("upload record too large; not counted", slog.String("upload", binding(conf, id)))
			continue
		case err != nil:
			return openUploads{}, tusError(ctx, err)
		}
		rec := &record{}
		if json.Unmarshal(data, rec) != nil || rec.Conference != conf || rec.ID != id {
			s.log.Warn("upload record unreadable; not counted", slog.String("upload", binding(conf, id)))
			continue
		}
		p, err := parsePurpose(rec.Purpose)
		if err != nil {
			continue
		}
		if rec.Done != nil || rec.Refused != nil {
			q.final[id] = true // a finished record never becomes unfinished again
			continue
		}
		if !now.Before(rec.Expires) {
			// Resumable no more, so no longer counted: its bytes go too, as load
			// removes an expired upload it meets (the engine's sweep removes objects
			// by their own age, up to UploadAge after the last part was written, and
			// would leave them next to the uploads made in their room). But not
			// under a request that holds the upload's lease (a PATCH that began
			// before the expiry is still writing), and not before the expiry is
			// past on every instance's clock: this check holds no lease itself.
			if now.After(rec.Expires.Add(expiredRemovalMargin)) && !s.leaseHeld(ctx, conf, id, now) {
				if err := s.remove(context.WithoutCancel(ctx), conf, id); err != nil {
					s.log.Warn("expired upload not removed; the sweep will", slog.String("upload", binding(conf, id)), slog.String("error", err.Error()))
				}
			}
			continue
		}
		ou := openUpload{purpose: p, bytes: rec.Size, deferred: rec.Size < 0}
		if ou.deferred {
			ou.bytes = max(u.received, q.running[id].bytes)
		}
		open.each[id] = ou
		open.count++
		open.bytes[purposeIndex(p)] += ou.bytes
	}
	for id := range q.final {
		if ids[id] == nil {
			delete(q.final, id) // removed: forget it
		}
	}
	return open, nil
}

func purposeIndex(p conference.Purpose) int {
	if p == conference.HandoutContent {
		return 1
	}
	return 0
}

// checkCreate checks a new upload against the cap on unfinished uploads and, with
// the others' bytes, against the quota. Called with q.mu held, which the caller
// keeps until the new record is stored, so that concurrent creations see it.
func (s *store) checkCreate(ctx context.Context, conf string, p conference.Purpose, size int64, q *confQuota) error {
	open, err := s.scanOpen(ctx, conf, "", q)
	if err != nil {
		return err
	}
	if max := s.cfg.MaxOpenUploads; max > 0 && open.count >= max {
		return handler.NewError("ERR_LIMIT", fmt.Sprintf("the conference has %d unfinished uploads, and at most %d are allowed; finish or terminate one first", open.count, max), http.StatusRequestEntityTooLarge)
	}
	need := size
	if size < 0 {
		// A deferred length is checked as its bytes come; it needs room for one
		// byte now, or it could never take any.
		need = 1
	}
	if err := s.checkPending(ctx, conf, p, need, open.bytes[purposeIndex(p)]); err != nil {
		return err
	}
	// The caller stores the record under q.mu, so the record is as good as made; if
	// storing it fails, the running PATCHes count it for nothing until they end.
	q.record("", openUpload{purpose: p, bytes: max(size, 0), deferred: size < 0})
	return nil
}

// checkPending checks size with the pending bytes of the other unfinished uploads.
// When that fails, size is checked alone: if it is over what the stored content
// leaves, that is the refusal, so that its message does not blame the unfinished
// uploads (which the engine's names whenever it is given pending bytes).
func (s *store) checkPending(ctx context.Context, conf string, p conference.Purpose, size, pending int64) error {
	err := s.cfg.Engine.CheckUploadPending(ctx, conf, p, size, pending)
	if err != nil && pending > 0 {
		if alone := s.cfg.Engine.CheckUploadPending(ctx, conf, p, size, 0); alone != nil {
			err = alone
		}
	}
	return confError(ctx, err)
}

// checkDeclare checks a deferred length now declared, with the other unfinished
// uploads' bytes.
func (u *upload) checkDeclare(ctx context.Context, length int64) error {
	q, done := u.s.quota(u.conf)
	defer done()
	q.mu.Lock()
	defer q.mu.Unlock()
	open, err := u.s.scanOpen(ctx, u.conf, u.id, q)
	if err != nil {
		return err
	}
	if err := u.s.checkPending(ctx, u.conf, u.purpose, length, open.bytes[purposeIndex(u.purpose)]); err != nil {
		return err
	}
	// Recorded before the record is replaced: should that fail, the running PATCHes
	// count the length for nothing until they end.
	q.record(u.id, openUpload{purpose: u.purpose, bytes: length})
	return nil
}

// deferredCap bounds a deferred-length PATCH by the per-file limit and by the quota
// left after stored content and the other unfinished uploads, counting the other
// deferred-length PATCHes running in this process as they grow. release ends the
// PATCH's claim.
func (u *upload) deferredCap(ctx context.Context, offset int64, src io.Reader) (io.Reader, func(), error) {
	lim := u.s.cfg.Engine.Limits()
	maxFile := lim.MaxContentFile
	if u.purpose == conference.HandoutContent {
		maxFile = lim.MaxHandoutFile
	}
	room, err := u.s.cfg.Engine.UploadRoom(ctx, u.conf, u.purpose)
	if err != nil {
		return nil, nil, confError(ctx, err)
	}
	q, done := u.s.quota(u.conf)
	q.mu.Lock()
	open, err := u.s.scanOpen(ctx, u.conf, u.id, q)
	if err != nil {
		q.mu.Unlock()
		done()
		return nil, nil, err
	}
	q.running[u.id] = runningPatch{purpose: u.purpose, bytes: offset}
	seq := q.seq
	q.mu.Unlock()
	release := func() {
		q.mu.Lock()
		delete(q.running, u.id)
		if len(q.running) == 0 {
			clear(q.changed)
		}
		q.mu.Unlock()
		done()
	}
	return &quotaCap{r: src, q: q, id: u.id, purpose: u.purpose, open: open, seq: seq, room: room,
		fileLeft: maxFile - offset, hook: u.s.cfg.capRead}, release, nil
}

// quotaCap fails with a 413 once its source yields more than the per-file limit or
// the quota left allows.
type quotaCap struct {
	r        io.Reader
	q        *confQuota
	id       string
	purpose  conference.Purpose
	open     openUploads // the others, as stored when the PATCH began
	seq      uint64      // q.seq when open was read: later changes are added to it
	room     int64       // the quota left after stored content
	fileLeft int64
	hook     func(id string, held int64) // Config.capRead
}

// others returns the bytes the other unfinished uploads hold now: those read when the
// PATCH began, as changed since, the ones created since, and the deferred-length
// PATCHes running. Called with q.mu.
func (c *quotaCap) others() int64 {
	var n int64
	held := func(id string, ou openUpload) int64 {
		if ou.purpose != c.purpose {
			return 0
		}
		if r, ok := c.q.running[id]; ok && ou.deferred {
			return max(r.bytes, ou.bytes)
		}
		return ou.bytes
	}
	newer := func(id string) (change, bool) {
		ch, ok := c.q.changed[id]
		return ch, ok && ch.seq > c.seq
	}
	for id, ou := range c.open.each {
		if ch, ok := newer(id); ok {
			ou = ch.openUpload
		}
		n += held(id, ou)
	}
	for id, ch := range c.q.changed {
		if _, known := c.open.each[id]; known || id == c.id || ch.seq <= c.seq {
			continue
		}
		n += held(id, ch.openUpload)
	}
	for id, r := range c.q.running {
		// A deferred-length upload created after the PATCH began, now receiving.
		_, known := c.open.each[id]
		if _, ok := newer(id); known || ok || id == c.id || r.purpose != c.purpose {
			continue
		}
		n += r.bytes
	}
	return n
}

func (c *quotaCap) Read(p []byte) (int, error) {
	if c.fileLeft < 0 {
		return 0, errFileLimit
	}
	if int64(len(p)) > c.fileLeft+1 {
		p = p[:c.fileLeft+1]
	}
	n, err := c.r.Read(p)
	c.fileLeft -= int64(n)
	if c.fileLeft < 0 {
		return 0, errFileLimit
	}
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	mine := c.q.running[c.id].bytes + int64(n)
	if others := c.others(); mine+others > c.room {
		return 0, handler.NewError("ERR_LIMIT", fmt.Sprintf("the upload would be over the conference's %s quota, counting %d bytes of its other unfinished uploads", c.purpose, others), http.StatusRequestEntityTooLarge)
	}
	c.q.running[c.id] = runningPatch{purpose: c.purpose, bytes: mine}
	if c.hook != nil {
		c.hook(c.id, mine)
	}
	return n, err
}

// expiredRemovalMargin is how long past its expiry an upload must be before a quota
// check removes it: more than instances' clocks differ.
const expiredRemovalMargin = 5 * time.Minute

// leaseHeld reports whether a request holds the upload's lease now (or whether that
// cannot be told: a read that failed counts as held, so nothing is removed on doubt).
func (s *store) leaseHeld(ctx context.Context, conf, id string, now time.Time) bool {
	data, _, err := s.cfg.Bucket.ReadAllLimit(ctx, uploadPrefix(conf, id)+lockObject, 1<<10)
	if errors.Is(err, storage.ErrNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	exp, _ := parseLease(data)
	return now.UnixMilli() < exp
}
