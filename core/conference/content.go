package conference

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/storage"
)

// Stored describes content that has been encrypted and stored. Key is the content
// key: it goes to the uploader and, through the metadata, to participants; never into
// logs (encryption.Key redacts itself).
type Stored struct {
	Name    string         `json:"name"`
	Key     encryption.Key `json:"-"`
	Size    int64          `json:"size"` // plaintext bytes
	URLPath string         `json:"url"`
	Purpose Purpose        `json:"-"`
}

// Ref returns the metadata reference (name + hex key) of the content.
func (s Stored) Ref() metadata.ContentRef {
	return metadata.ContentRef{Name: s.Name, Key: s.Key.Hex()}
}

var extPattern = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// NewContentName returns a fresh random name: x<32 hex>.e<ext> for slide content,
// <32 hex>.blb for handouts. 128 random bits make names unguessable.
func NewContentName(p Purpose, ext string) (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	if p == HandoutContent {
		return metadata.HandoutName(id), nil
	}
	if !extPattern.MatchString(ext) {
		return "", fmt.Errorf("%w: content type %q must be 1-8 of a-z and 0-9", ErrInvalidInput, ext)
	}
	return metadata.ContentName(id, ext), nil
}

// StoreContent encrypts r with a fresh key under a fresh random name and stores it,
// enforcing the per-file and per-conference limits while it streams. sizeHint is the
// plaintext size if known, else -1. On any failure nothing is left behind.
func (e *Engine) StoreContent(ctx context.Context, confID string, p Purpose, ext string, r io.Reader, sizeHint int64) (Stored, error) {
	name, err := NewContentName(p, ext)
	if err != nil {
		return Stored{}, err
	}
	key, err := encryption.NewKey()
	if err != nil {
		return Stored{}, err
	}
	return e.StoreContentAs(ctx, confID, p, name, key, r, sizeHint)
}

// StoreContentAs is StoreContent with a name (from NewContentName) and key chosen by
// the caller: the upload stream announces them before the bytes arrive.
func (e *Engine) StoreContentAs(ctx context.Context, confID string, p Purpose, name string, key encryption.Key, r io.Reader, sizeHint int64) (Stored, error) {
	c, maxFile, err := e.beginStore(ctx, confID, p, name, sizeHint)
	if err != nil {
		return Stored{}, err
	}
	q := &quotaReader{e: e, u: c.usage, p: p, r: r, maxFile: maxFile}
	err = e.putEncrypted(ctx, c.loc.ContentKey(name), key, q, sizeHint)
	return e.finishStore(ctx, c, p, name, key, q.n, err)
}

// StoreEncrypted stores content that is already encrypted with key in the content
// format (the parts of a resumable upload, joined): plainSize is its plaintext size,
// charged to the limits before anything is written. The ciphertext is not decrypted
// here; whoever made it is trusted to have used key. On any failure nothing is left
// behind. The ciphertext must be exactly the size plainSize makes, since the quota is
// charged by plainSize.
func (e *Engine) StoreEncrypted(ctx context.Context, confID string, p Purpose, name string, key encryption.Key, ciphertext io.Reader, plainSize int64) (Stored, error) {
	if plainSize < 0 {
		return Stored{}, fmt.Errorf("%w: plaintext size %d", ErrInvalidInput, plainSize)
	}
	c, err := e.beginStoreSized(ctx, confID, p, name, plainSize)
	if err != nil {
		return Stored{}, err
	}
	size, err := encryption.CiphertextSize(plainSize)
	if err == nil {
		cond := storage.Condition{IfNotExists: e.bucket.Capabilities().ConditionalCreate}
		sr := &sizedReader{r: ciphertext, left: size}
		_, err = e.bucket.Put(ctx, c.loc.ContentKey(name), sr, storage.PutOptions{Condition: cond, Size: size})
		if err != nil && sr.mismatch {
			err = errSizeMismatch // whatever the backend made of the reader's error
		}
	}
	return e.finishStore(ctx, c, p, name, key, plainSize, err)
}

// AdoptEncrypted is StoreEncrypted for a ciphertext that is already in the engine's
// bucket: the objects srcKeys, one after the other, are the content file (the parts
// of a finished upload under the conference's uploads folder,
// layout.UploadRoot/<conference>/…). The bytes are moved rather than written again
// where the backend allows it:
//
//   - one object, on a backend that renames (storage.Mover): it becomes the content
//     file and is gone from its old name;
//   - several (or one without Mover), on a backend that composes (storage.Composer)
//     within its limits: the content file is made from them inside the storage;
//   - otherwise they are read and written through StoreEncrypted.
//
// Sources that are not moved are left for the caller to remove. Checks and charges
// are StoreEncrypted's; on any failure the sources are where they were and no content
// file is left.
func (e *Engine) AdoptEncrypted(ctx context.Context, confID string, p Purpose, name string, key encryption.Key, srcKeys []string, plainSize int64) (Stored, error) {
	if plainSize < 0 {
		return Stored{}, fmt.Errorf("%w: plaintext size %d", ErrInvalidInput, plainSize)
	}
	if err := layout.ValidateConferenceID(confID); err != nil {
		return Stored{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if len(srcKeys) == 0 {
		return Stored{}, fmt.Errorf("%w: no source objects", ErrInvalidInput)
	}
	for _, k := range srcKeys {
		if !strings.HasPrefix(k, layout.UploadRoot+"/"+confID+"/") {
			return Stored{}, fmt.Errorf("%w: only an upload of the conference can become its content", ErrInvalidInput)
		}
	}
	size, err := encryption.CiphertextSize(plainSize)
	if err != nil {
		return Stored{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	sizes := make([]int64, len(srcKeys))
	var total int64
	for i, k := range srcKeys {
		attrs, err := e.bucket.Stat(ctx, k)
		if err != nil {
			return Stored{}, err
		}
		sizes[i], total = attrs.Size, total+attrs.Size
	}
	if total != size {
		return Stored{}, errSizeMismatch
	}
	if len(srcKeys) > 1 || !e.bucket.CanMove() {
		if !e.composable(sizes) {
			r := &objectsReader{ctx: ctx, b: e.bucket, keys: srcKeys, sizes: sizes}
			defer r.close()
			return e.StoreEncrypted(ctx, confID, p, name, key, r, plainSize)
		}
		c, err := e.beginStoreSized(ctx, confID, p, name, plainSize)
		if err != nil {
			return Stored{}, err
		}
		dst := c.loc.ContentKey(name)
		_, err = e.bucket.Compose(ctx, dst, srcKeys)
		return e.finishStoreUndo(ctx, c, p, name, key, plainSize, err, func(ctx context.Context) {
			if err := e.bucket.Delete(ctx, dst); err != nil {
				e.log.Warn("composed content could not be removed", "content", name, "err", err)
			}
		})
	}
	c, err := e.beginStoreSized(ctx, confID, p, name, plainSize)
	if err != nil {
		return Stored{}, err
	}
	dst := c.loc.ContentKey(name)
	_, err = e.bucket.Move(ctx, srcKeys[0], dst)
	return e.finishStoreUndo(ctx, c, p, name, key, plainSize, err, func(ctx context.Context) {
		// Back to where the caller keeps it, so that a retry finds it again.
		if _, err := e.bucket.Move(ctx, dst, srcKeys[0]); err != nil {
			e.log.Warn("adopted content could not be given back to its upload", "content", name, "err", err)
		}
	})
}

// composable reports whether the bucket can compose sources of these sizes.
func (e *Engine) composable(sizes []int64) bool {
	least, most, ok := e.bucket.ComposeLimits()
	if !ok || most > 0 && len(sizes) > most {
		return false
	}
	for _, n := range sizes[:len(sizes)-1] {
		if n < least {
			return false
		}
	}
	return true
}

// objectsReader reads objects one after the other, opening each only when the
// previous one is done, so memory stays constant whatever their number. An object
// whose size is not the one it had when it was looked at fails the read.
type objectsReader struct {
	ctx   context.Context
	b     *storage.Bucket
	keys  []string
	sizes []int64
	cur   io.ReadCloser
	left  int64
}

func (r *objectsReader) close() {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
}

func (r *objectsReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.keys) == 0 {
				return 0, io.EOF
			}
			rc, attrs, err := r.b.Get(r.ctx, r.keys[0], 0, -1)
			if err != nil {
				return 0, err
			}
			if attrs.Size != r.sizes[0] {
				rc.Close()
				return 0, errors.New("conference: a source object changed size while it was being copied")
			}
			r.cur, r.left = rc, attrs.Size
			r.keys, r.sizes = r.keys[1:], r.sizes[1:]
		}
		n, err := r.cur.Read(p)
		r.left -= int64(n)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if r.left != 0 {
				return n, io.ErrUnexpectedEOF
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

var errSizeMismatch = fmt.Errorf("%w: the ciphertext is not the size its stated plaintext size makes", ErrInvalidInput)

// sizedReader fails the put if its source yields other than left bytes.
type sizedReader struct {
	r        io.Reader
	left     int64
	mismatch bool
}

func (s *sizedReader) Read(p []byte) (int, error) {
	if int64(len(p)) > s.left+1 {
		p = p[:s.left+1] // one byte past the end is enough to tell
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	switch {
	case s.left < 0:
		s.mismatch = true
		return 0, errSizeMismatch
	case err == io.EOF && s.left > 0:
		s.mismatch = true
		return n, errSizeMismatch
	}
	return n, err
}

func (e *Engine) beginStore(ctx context.Context, confID string, p Purpose, name string, sizeHint int64) (*conf, int64, error) {
	if err := layout.ValidateContentName(name); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if purposeOf(name) != p {
		return nil, 0, fmt.Errorf("%w: %s content cannot be named %s", ErrInvalidInput, p, name)
	}
	c, err := e.lockOpen(ctx, confID, true)
	if err != nil {
		return nil, 0, err
	}
	err = e.writable(c)
	if err == nil {
		c.busy++ // until finishStore (or endStore on a failure before it)
	}
	c.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	maxFile := e.cfg.Limits.fileLimit(p)
	if sizeHint > maxFile {
		e.endStore(c)
		return nil, 0, e.limitError(p, "file", maxFile)
	}
	if err := e.addFile(c.usage, p); err != nil {
		e.endStore(c)
		return nil, 0, err
	}
	return c, maxFile, nil
}

// beginStoreSized is beginStore for content whose plaintext size is known before a
// byte is written: the whole size is charged to the quota at once.
func (e *Engine) beginStoreSized(ctx context.Context, confID string, p Purpose, name string, plainSize int64) (*conf, error) {
	c, _, err := e.beginStore(ctx, confID, p, name, plainSize)
	if err != nil {
		return nil, err
	}
	if err := e.take(c.usage, p, plainSize); err != nil {
		c.usage.release(p, 0, true)
		e.endStore(c)
		return nil, err
	}
	return c, nil
}

// endStore ends what beginStore began: the conference may be closed as idle again.
func (e *Engine) endStore(c *conf) {
	c.mu.Lock()
	c.busy--
	c.lastUsed = e.now()
	c.mu.Unlock()
}

// finishStore completes a store whose put returned putErr, having taken n bytes of
// quota: it gives everything back on failure, else writes the compliance copy and
// announces the content.
func (e *Engine) finishStore(ctx context.Context, c *conf, p Purpose, name string, key encryption.Key, n int64, putErr error) (Stored, error) {
	return e.finishStoreUndo(ctx, c, p, name, key, n, putErr, func(ctx context.Context) {
		_ = e.bucket.Delete(ctx, c.loc.ContentKey(name))
	})
}

// finishStoreUndo is finishStore with the step that takes the stored content away
// again when the store fails after the put.
func (e *Engine) finishStoreUndo(ctx context.Context, c *conf, p Purpose, name string, key encryption.Key, n int64, putErr error, undo func(context.Context)) (Stored, error) {
	defer e.endStore(c)
	if putErr != nil {
		c.usage.release(p, n, true)
		return Stored{}, putErr
	}
	c.mu.Lock()
	deleted := c.deleted
	c.mu.Unlock()
	if deleted {
		// DeleteConference ran while the bytes were being stored, and its removal of
		// the content folder may have come before they were there: nothing would ever
		// find them again. They go now (not back to an upload, whose folder is gone
		// too), and the store fails as for an unknown conference. A deletion that
		// begins after this check removes them itself: it marks the conference (drop)
		// before the folders are removed.
		if err := e.bucket.Delete(context.WithoutCancel(ctx), c.loc.ContentKey(name)); err != nil {
			e.log.Warn("content stored into a deleted conference could not be removed", "conference", c.info.ID, "content", name, "err", err)
		}
		c.usage.release(p, n, true)
		return Stored{}, fmt.Errorf("%w: conference %q was deleted while its content was being stored", ErrNotFound, c.info.ID)
	}
	st := Stored{Name: name, Key: key, Size: n, URLPath: c.loc.ContentURLPath(name), Purpose: p}
	if err := e.complianceContent(ctx, c, st); err != nil {
		undo(context.WithoutCancel(ctx))
		c.usage.release(p, n, true)
		return Stored{}, err
	}
	// Announced under the lock, and only while the conference lives: a delete that
	// came during the compliance copy has removed the content (it marks the conference
	// before it removes folders) and ended the conference's event subscriptions; an
	// event published after that would start a new topic for the id, which a
	// conference created later with the same id would inherit, key included.
	c.mu.Lock()
	deleted = c.deleted
	if !deleted {
		e.publish(c.info.ID, events.ContentReady, events.Presenters, ContentEvent(st))
	}
	c.mu.Unlock()
	if deleted {
		// As above; the delete has most likely removed them already.
		if err := e.bucket.Delete(context.WithoutCancel(ctx), c.loc.ContentKey(name)); err != nil {
			e.log.Warn("content stored into a deleted conference could not be removed", "conference", c.info.ID, "content", name, "err", err)
		}
		c.usage.release(p, n, true)
		return Stored{}, fmt.Errorf("%w: conference %q was deleted while its content was being stored", ErrNotFound, c.info.ID)
	}
	return st, nil
}

// ContentEvent is the payload of a content.ready event: the URL and the key.
func ContentEvent(st Stored) map[string]any {
	return map[string]any{"name": st.Name, "url": st.URLPath, "key": st.Key.Hex(), "size": st.Size, "purpose": st.Purpose.String()}
}

// putEncrypted streams r through the encrypter into a create-only put. The pipe keeps
// memory constant and lets encryption and storage overlap (storage.Pipe); a failure on either side aborts the put, which leaves nothing. It
// returns only once the encrypter has stopped reading r: r is the caller's again, and
// a quotaReader's count must be final before the caller gives its bytes back.
func (e *Engine) putEncrypted(ctx context.Context, storageKey string, key encryption.Key, r io.Reader, sizeHint int64) error {
	pipe := storage.NewPipe()
	encrypted := make(chan struct{})
	go func() {
		defer close(encrypted)
		w, err := encryption.NewWriter(pipe, key)
		if err == nil {
			_, err = io.Copy(w, r)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		pipe.CloseWrite(err) // nil ends the stream with EOF
	}()
	defer func() { <-encrypted }()
	size := int64(-1)
	if sizeHint >= 0 {
		if cs, err := encryption.CiphertextSize(sizeHint); err == nil {
			size = cs
		}
	}
	cond := storage.Condition{IfNotExists: e.bucket.Capabilities().ConditionalCreate}
	_, err := e.bucket.Put(ctx, storageKey, pipe, storage.PutOptions{Condition: cond, Size: size})
	pipe.CloseRead(errors.New("put ended")) // stops the encrypter if the put gave up early
	return err
}

// OpenContent decrypts bytes [off, off+n) of a content file (n == -1: to the end),
// reading only the segments that cover them. It returns the reader and the file's
// plaintext size. A wrong key fails with encryption.ErrAuthentication.
func (e *Engine) OpenContent(ctx context.Context, confID, name string, key encryption.Key, off, n int64) (io.ReadCloser, int64, error) {
	if err := layout.ValidateContentName(name); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	c, err := e.acquire(ctx, confID)
	if err != nil {
		return nil, 0, err
	}
	return openEncrypted(ctx, e.bucket, c.loc.ContentKey(name), key, off, n)
}

func openEncrypted(ctx context.Context, b *storage.Bucket, storageKey string, key encryption.Key, off, n int64) (io.ReadCloser, int64, error) {
	head, attrs, err := b.Get(ctx, storageKey, 0, encryption.HeaderSize)
	if err != nil {
		return nil, 0, err
	}
	hb, err := io.ReadAll(head)
	head.Close()
	if err != nil {
		return nil, 0, err
	}
	h, err := encryption.ParseHeader(hb)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", storageKey, err)
	}
	size, err := h.PlaintextSize(attrs.Size)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", storageKey, err)
	}
	if off < 0 || n < -1 || off > size {
		return nil, size, storage.NewError(storage.ErrInvalidRange, "open", storageKey, nil)
	}
	start, length, err := h.CiphertextRange(attrs.Size, off, n)
	if err != nil {
		return nil, size, err
	}
	body, _, err := b.Get(ctx, storageKey, start, length)
	if err != nil {
		return nil, size, err
	}
	r, err := encryption.NewRangeReader(body, key, h, attrs.Size, off, n)
	if err != nil {
		body.Close()
		return nil, size, err
	}
	return readCloser{r, body}, size, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// verifyContent proves that ref names stored content of this conference and that its
// key opens it (it authenticates the first segment, or the only one). It returns the
// content's plaintext size.
func (e *Engine) verifyContent(ctx context.Context, c *conf, ref metadata.ContentRef) (int64, error) {
	key, err := encryption.ParseKey(ref.Key)
	if err != nil {
		return 0, fmt.Errorf("%w: content %s: %w", ErrInvalidInput, ref.Name, err)
	}
	if err := layout.ValidateContentName(ref.Name); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	rc, size, err := openEncrypted(ctx, e.bucket, c.loc.ContentKey(ref.Name), key, 0, 1)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return 0, fmt.Errorf("%w: content %s is not stored in this conference", ErrInvalidInput, ref.Name)
		}
		return 0, err
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		if errors.Is(err, encryption.ErrAuthentication) {
			return 0, fmt.Errorf("%w: the key does not open content %s", ErrInvalidInput, ref.Name)
		}
		return 0, err
	}
	return size, nil
}

// DeleteContent removes a content file that nothing references (for example one
// uploaded by mistake). Content a slide set or a live handout references is refused
// with ErrInUse: deleting it would leave the reference dangling.
func (e *Engine) DeleteContent(ctx context.Context, confID, name string) error {
	if err := layout.ValidateContentName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	c, err := e.lockOpen(ctx, confID, true)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	// Under the conference lock, so that no reference lands between the check and
	// the delete (as in the orphan sweep).
	refs, err := e.referenced(ctx, c)
	if err != nil {
		return err
	}
	if refs[name] {
		return fmt.Errorf("content %s is referenced by a slide set or a live handout; remove the reference (or delete the handout) first: %w", name, ErrInUse)
	}
	return e.deleteContent(ctx, c, name)
}

// purposeOf tells a content name's purpose: handout blobs are <hex>.blb.
func purposeOf(name string) Purpose {
	if strings.HasSuffix(name, ".blb") {
		return HandoutContent
	}
	return SlideContent
}

// deleteContent removes a content file and gives back the quota it occupied, as
// measured from storage (never from what metadata says of it). c.mu held: the stat
// and the delete must not interleave with another delete of the same file, or both
// would give its bytes back.
func (e *Engine) deleteContent(ctx context.Context, c *conf, name string) error {
	key := c.loc.ContentKey(name)
	attrs, err := e.bucket.Stat(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("content %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if err := e.bucket.Delete(ctx, key); err != nil {
		return err
	}
	size, err := encryption.PlaintextSize(attrs.Size)
	if err != nil {
		size = attrs.Size // as measureUsage counted it
	}
	c.usage.release(purposeOf(name), size, true)
	return nil
}

// ContentInfo describes one stored content file (no key: the engine does not keep
// content keys apart from the metadata that references them).
type ContentInfo struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"` // plaintext bytes
	URLPath string `json:"url"`
}

// ListContent lists the conference's stored content files.
func (e *Engine) ListContent(ctx context.Context, confID string) ([]ContentInfo, error) {
	c, err := e.acquire(ctx, confID)
	if err != nil {
		return nil, err
	}
	var out []ContentInfo
	prefix := c.loc.ContentPrefix()
	for attrs, err := range e.bucket.List(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		name := attrs.Key[len(prefix):]
		size, err := encryption.PlaintextSize(attrs.Size)
		if err != nil {
			size = -1 // not a complete file
		}
		out = append(out, ContentInfo{Name: name, Size: size, URLPath: c.loc.ContentURLPath(name)})
	}
	return out, nil
}
