package conference

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
)

// Fsck is the offline consistency check behind `lectern fsck`. It only reads: it never
// opens a metastore.Store (whose Open replays the journal and heals copies, which
// writes), never takes the clean-up lease and never repairs. It judges the metadata as
// a Store would see it on opening: the newest valid copy of each document with the
// newer journal records applied over it.

// ProblemKind is a stable code for one kind of finding.
type ProblemKind string

// The kinds of findings. Codes are stable; details are for humans.
const (
	// ProblemIndex: an index entry does not name a valid organizer folder.
	ProblemIndex ProblemKind = "index_damaged"
	// ProblemConference: conference.xml is missing or unreadable, or the master key
	// does not unwrap with this KEK; nothing of the conference can be checked.
	ProblemConference ProblemKind = "conference_unreadable"
	// ProblemUnfinished: the index names the conference but its conference.xml is
	// gone, and what is left is the trace of a crash: the marker of a delete that
	// stopped midway, or the index entry alone (a create that stopped between its two
	// writes). The retention sweep finishes the removal.
	ProblemUnfinished ProblemKind = "unfinished_delete"
	// ProblemUnindexed: a metadata, content or upload folder whose conference is not
	// in the index (written by a request racing the conference's delete, or copied in
	// by hand).
	ProblemUnindexed ProblemKind = "unindexed_folder"
	// ProblemMetadataCorrupt: a metadata file does not decrypt or decode, or a
	// document decrypts but is not valid XML of its kind.
	ProblemMetadataCorrupt ProblemKind = "metadata_corrupt"
	// ProblemDocumentLost: no copy of a document is valid and no journal record
	// replaces it: the document cannot be read.
	ProblemDocumentLost ProblemKind = "document_unreadable"
	// ProblemCopyMissing: one of a document's two copies is missing.
	ProblemCopyMissing ProblemKind = "copy_missing"
	// ProblemCopiesDiffer: both copies are valid but of different generations (the
	// detail says which is newer): the trace of a crash between the two writes.
	ProblemCopiesDiffer ProblemKind = "copies_differ"
	// ProblemStrayFile: a file in a conference folder that Lectern does not write.
	ProblemStrayFile ProblemKind = "unknown_file"
	// ProblemBadReference: a reference whose name or key is not of the valid form.
	ProblemBadReference ProblemKind = "bad_reference"
	// ProblemContentMissing: referenced content is not stored.
	ProblemContentMissing ProblemKind = "content_missing"
	// ProblemWrongKey: the referenced key does not open the content's first segment
	// (a wrong key, or damage in exactly that segment: the two cannot be told apart).
	ProblemWrongKey ProblemKind = "wrong_key"
	// ProblemContentCorrupt: content that opens with its key fails authentication
	// later on, is truncated, or is not of the encryption format.
	ProblemContentCorrupt ProblemKind = "content_corrupt"
	// ProblemOrphan: stored content that no slide set and no live handout references.
	ProblemOrphan ProblemKind = "orphan"
)

// Severity says whether a finding is damage (Error) or an inconsistency that Lectern
// repairs or collects by itself (Warning: the next open heals a copy, the retention
// sweep removes orphans).
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

var warnings = map[ProblemKind]bool{ProblemCopyMissing: true, ProblemCopiesDiffer: true,
	ProblemStrayFile: true, ProblemOrphan: true, ProblemUnindexed: true, ProblemUnfinished: true}

// Problem is one finding. It never holds keys or file contents.
type Problem struct {
	Kind       ProblemKind `json:"kind"`
	Severity   Severity    `json:"severity"`
	Conference string      `json:"conference,omitempty"`
	Key        string      `json:"key,omitempty"` // the storage key concerned
	Detail     string      `json:"detail"`
}

// FsckOptions tune Fsck.
type FsckOptions struct {
	// Quick authenticates only the first and the final segment of each content file
	// (which proves the key and that the file is not cut) instead of every segment.
	Quick bool
	// Progress, when set, is told about each content file before it is verified.
	Progress func(key string, size int64)
}

// FsckReport is what Fsck found.
type FsckReport struct {
	Conferences   int       `json:"conferences"`
	MetadataFiles int       `json:"metadata_files"`
	ContentFiles  int       `json:"content_files"`
	VerifiedBytes int64     `json:"verified_bytes"` // plaintext bytes decrypted and authenticated
	Problems      []Problem `json:"problems"`
}

// OK reports whether nothing was found.
func (r FsckReport) OK() bool { return len(r.Problems) == 0 }

// Errors counts the findings of severity error.
func (r FsckReport) Errors() int {
	n := 0
	for _, p := range r.Problems {
		if p.Severity == SeverityError {
			n++
		}
	}
	return n
}

func (r *FsckReport) add(kind ProblemKind, conf, key, format string, args ...any) {
	sev := SeverityError
	if warnings[kind] {
		sev = SeverityWarning
	}
	r.Problems = append(r.Problems, Problem{Kind: kind, Severity: sev, Conference: conf, Key: key, Detail: fmt.Sprintf(format, args...)})
}

// Fsck checks one conference (conferenceID) or, with conferenceID "", every conference
// in the index and every folder that belongs to none. Findings go to the report; the
// error is for failures that stop the check itself (storage unavailable, a
// cancelled context, a conference id that is not in the index).
func (e *Engine) Fsck(ctx context.Context, conferenceID string, opts FsckOptions) (FsckReport, error) {
	var rep FsckReport
	var ids []string
	if conferenceID != "" {
		ids = []string{conferenceID}
	} else {
		for attrs, err := range e.bucket.List(ctx, layout.IndexRoot+"/") {
			if err != nil {
				return rep, err
			}
			ids = append(ids, strings.TrimPrefix(attrs.Key, layout.IndexRoot+"/"))
		}
	}
	indexed := map[string]bool{}    // "<orghash>/<id>"
	indexedIDs := map[string]bool{} // "<id>", for the upload folders
	for _, id := range ids {
		loc, err := e.locate(ctx, id)
		switch {
		case err == nil:
		case conferenceID == "" && errors.Is(err, storage.ErrNotFound):
			continue // deleted while we looked
		case conferenceID == "" && errors.Is(err, ErrInvalidInput):
			rep.add(ProblemIndex, "", layout.IndexRoot+"/"+id, "the index entry's name is not a valid conference id")
			continue
		case errors.Is(err, metastore.ErrCorrupt):
			rep.add(ProblemIndex, id, layout.IndexKey(id), "the index entry does not hold a valid organizer hash")
			continue
		default:
			return rep, err
		}
		indexed[loc.OrgHash+"/"+loc.ID] = true
		indexedIDs[loc.ID] = true
		rep.Conferences++
		if err := e.fsckConference(ctx, loc, opts, &rep); err != nil {
			return rep, fmt.Errorf("conference %q: %w", id, err)
		}
	}
	if conferenceID == "" {
		for _, root := range []string{layout.MetadataRoot, layout.ContentRoot} {
			if err := e.fsckUnindexed(ctx, root, 2, indexed, &rep); err != nil {
				return rep, err
			}
		}
		if err := e.fsckUnindexed(ctx, layout.UploadRoot, 1, indexedIDs, &rep); err != nil {
			return rep, err
		}
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Conference, b.Conference), cmp.Compare(a.Key, b.Key))
	})
	return rep, nil
}

// fsckUnindexed reports each conference folder under root that no index entry
// names: <root>/<orghash>/<id>/ (depth 2) or <root>/<id>/ (depth 1).
func (e *Engine) fsckUnindexed(ctx context.Context, root string, depth int, indexed map[string]bool, rep *FsckReport) error {
	seen := map[string]bool{}
	for attrs, err := range e.bucket.List(ctx, root+"/") {
		if err != nil {
			return err
		}
		parts := strings.SplitN(strings.TrimPrefix(attrs.Key, root+"/"), "/", depth+1)
		if len(parts) <= depth {
			continue // files of the root itself, such as the clean-up lease
		}
		folder := strings.Join(parts[:depth], "/")
		if indexed[folder] || seen[folder] {
			continue
		}
		seen[folder] = true
		rep.add(ProblemUnindexed, parts[depth-1], root+"/"+folder+"/", "no index entry names this conference folder")
	}
	return nil
}

// docState gathers what the folder holds of one document.
type docState struct {
	doc             metastore.Doc
	primary, backup *metastore.File // nil: missing or damaged
	present         [2]bool         // primary, backup exist (valid or not)
	journal         []metastore.File
}

// ref is one reference to content, with the document that holds it.
type ref struct {
	key string // hex, as written in the document
	doc metastore.Doc
}

func (e *Engine) fsckConference(ctx context.Context, loc layout.Conference, opts FsckOptions, rep *FsckReport) error {
	id := loc.ID
	_, master, err := e.readConference(ctx, loc)
	if err != nil {
		switch {
		case storage.IsRetryable(err) || ctx.Err() != nil:
			return err
		case errors.Is(err, storage.ErrNotFound):
			switch trace, terr := e.headlessTrace(ctx, loc); {
			case terr != nil:
				return terr
			case trace == traceDelete:
				rep.add(ProblemUnfinished, id, loc.DeletingMarker(), "a delete of the conference stopped midway (conference.xml is gone, its marker is there): "+
					"the retention sweep finishes it, or delete the conference again")
			case trace == traceCreate:
				rep.add(ProblemUnfinished, id, layout.IndexKey(id), "the index names the conference but nothing else of it exists: "+
					"a create (or the end of a delete) stopped midway; the retention sweep removes the entry a day after it was written, or delete the conference")
			default:
				rep.add(ProblemConference, id, loc.ConferenceFile(), "conference.xml is missing, but the conference's folders hold files "+
					"(damage, or a restore not finished): nothing of it can be read, and the sweep leaves it alone")
			}
		default:
			rep.add(ProblemConference, id, loc.ConferenceFile(), "%v", err)
		}
		return nil
	}
	docs, err := e.fsckMetadata(ctx, loc, sealer{master}, rep)
	if err != nil {
		return err
	}
	refs := map[string][]ref{} // by content name
	for _, ds := range docs {
		data, ok := effective(ds, id, loc.MetadataPrefix(), rep)
		if !ok {
			continue
		}
		var crs []metadata.ContentRef
		var perr error
		switch ds.doc.Kind {
		case metastore.SlideSet:
			var set *metadata.SlideSet
			if set, perr = metadata.UnmarshalSlideSet(data); perr == nil {
				crs = set.ContentRefs()
			}
		case metastore.Handout:
			var fs *metadata.FileSet
			if fs, perr = metadata.UnmarshalFileSet(data); perr == nil && !fs.Deleted {
				crs = fs.ContentRefs()
			}
		}
		if perr != nil {
			rep.add(ProblemMetadataCorrupt, id, loc.MetadataPrefix()+ds.doc.PrimaryKey(), "%s decrypts but is not a valid document: %v", ds.doc, perr)
			continue
		}
		for _, cr := range crs {
			refs[cr.Name] = append(refs[cr.Name], ref{key: cr.Key, doc: ds.doc})
		}
	}
	return e.fsckContent(ctx, loc, refs, opts, rep)
}

// fsckMetadata opens every file of the conference's metadata folder and groups the
// document copies and journal records by document.
func (e *Engine) fsckMetadata(ctx context.Context, loc layout.Conference, s metastore.Sealer, rep *FsckReport) (map[metastore.Doc]*docState, error) {
	prefix := loc.MetadataPrefix()
	docs := map[metastore.Doc]*docState{}
	state := func(d metastore.Doc) *docState {
		if docs[d] == nil {
			docs[d] = &docState{doc: d}
		}
		return docs[d]
	}
	for attrs, err := range e.bucket.List(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		rel := attrs.Key[len(prefix):]
		if attrs.Key == loc.ConferenceFile() || attrs.Key == loc.DeletingMarker() {
			continue // a marker beside conference.xml: a delete under way, or one that failed at once
		}
		fn, ok := metastore.ParseFileName(rel)
		if !ok {
			rep.add(ProblemStrayFile, loc.ID, attrs.Key, "not a file Lectern writes in a metadata folder")
			continue
		}
		raw, _, err := e.bucket.ReadAllLimit(ctx, attrs.Key, metastore.MaxFileSize)
		var tooLarge *storage.TooLargeError
		switch {
		case errors.Is(err, storage.ErrNotFound):
			continue // trimmed or replaced by a running server meanwhile
		case errors.As(err, &tooLarge):
			// Counted, and reported below as a file that does not decode.
			err = fmt.Errorf("%w: %w", metastore.ErrCorrupt, err)
		case err != nil:
			return nil, err
		}
		rep.MetadataFiles++
		var f metastore.File
		if err == nil {
			f, err = metastore.OpenFile(s, rel, raw)
		}
		if fn.Kind == metastore.SnapshotFile {
			ds := state(fn.Doc)
			ds.present[boolIndex(fn.Backup)] = true
			if err == nil {
				if fn.Backup {
					ds.backup = &f
				} else {
					ds.primary = &f
				}
			}
		}
		if err != nil {
			detail := "does not decrypt or decode"
			if fn.Kind == metastore.JournalFile {
				detail += "; the conference cannot be opened until this journal record is repaired or removed"
			}
			rep.add(ProblemMetadataCorrupt, loc.ID, attrs.Key, "%s", detail)
			continue
		}
		if f.Kind == metastore.JournalFile {
			ds := state(f.Doc)
			ds.journal = append(ds.journal, f)
		}
	}
	return docs, nil
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// effective reports the copies' state and returns the document as a Store would load
// it: the newest valid copy, replaced by any newer journal record. ok is false for a
// deleted or unreadable document.
func effective(ds *docState, conf, prefix string, rep *FsckReport) ([]byte, bool) {
	p, b := ds.primary, ds.backup
	pk, bk := prefix+ds.doc.PrimaryKey(), prefix+ds.doc.BackupKey()
	switch {
	case p != nil && b != nil && p.Generation != b.Generation:
		newer, older := "primary", "backup"
		if b.Generation > p.Generation {
			newer, older = older, newer
		}
		rep.add(ProblemCopiesDiffer, conf, pk, "%s: the %s (generation %d) is newer than the %s (generation %d)",
			ds.doc, newer, max(p.Generation, b.Generation), older, min(p.Generation, b.Generation))
	case p != nil && !ds.present[1]:
		rep.add(ProblemCopyMissing, conf, bk, "%s: the backup copy is missing (the primary is valid)", ds.doc)
	case b != nil && !ds.present[0]:
		rep.add(ProblemCopyMissing, conf, pk, "%s: the primary copy is missing (the backup is valid)", ds.doc)
	}
	var gen uint64
	var data []byte
	exists := false
	for _, c := range []*metastore.File{p, b} {
		if c != nil && (!exists || c.Generation > gen) {
			gen, data, exists = c.Generation, c.Data, true
		}
	}
	fromJournal := false
	for _, r := range ds.journal {
		if r.Generation > gen {
			gen, data, exists, fromJournal = r.Generation, r.Data, !r.Deleted, true
		}
	}
	if !fromJournal && p == nil && b == nil && (ds.present[0] || ds.present[1]) {
		rep.add(ProblemDocumentLost, conf, pk, "%s: no copy is valid and no journal record replaces it", ds.doc)
		return nil, false
	}
	return data, exists
}

// fsckContent checks every referenced content file with every key that references it,
// and lists the stored files that nothing references.
func (e *Engine) fsckContent(ctx context.Context, loc layout.Conference, refs map[string][]ref, opts FsckOptions, rep *FsckReport) error {
	prefix := loc.ContentPrefix()
	stored := map[string]int64{}
	for attrs, err := range e.bucket.List(ctx, prefix) {
		if err != nil {
			return err
		}
		stored[attrs.Key[len(prefix):]] = attrs.Size
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range refs {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		size, ok := stored[name]
		if err := layout.ValidateContentName(name); err != nil {
			rep.add(ProblemBadReference, loc.ID, "", "%s references %q, which is not a content name", refs[name][0].doc, name)
			continue
		}
		key := loc.ContentKey(name)
		if !ok {
			rep.add(ProblemContentMissing, loc.ID, key, "referenced by %s but not stored", refs[name][0].doc)
			continue
		}
		rep.ContentFiles++
		checked := map[string]bool{}
		for _, r := range refs[name] {
			if checked[r.key] {
				continue
			}
			checked[r.key] = true
			k, err := encryption.ParseKey(r.key)
			if err != nil {
				rep.add(ProblemBadReference, loc.ID, key, "%s references it with a key that is not 64 lowercase hex characters", r.doc)
				continue
			}
			if opts.Progress != nil {
				opts.Progress(key, size)
			}
			n, err := verifyContentFile(ctx, e.bucket, key, k, opts.Quick)
			rep.VerifiedBytes += n
			switch {
			case err == nil:
			case errors.Is(err, errFirstSegment):
				rep.add(ProblemWrongKey, loc.ID, key, "the key in %s does not open it (a wrong key, or damage in its first segment)", r.doc)
			case errors.Is(err, encryption.ErrAuthentication), errors.Is(err, encryption.ErrTruncated), errors.Is(err, encryption.ErrFormat):
				rep.add(ProblemContentCorrupt, loc.ID, key, "opens with the key in %s but %v", r.doc, err)
			case errors.Is(err, storage.ErrNotFound):
				rep.add(ProblemContentMissing, loc.ID, key, "referenced by %s, removed while checking", r.doc)
			case errors.Is(err, storage.ErrInvalidRange):
				rep.add(ProblemContentCorrupt, loc.ID, key, "changed size while checking")
			default:
				return err
			}
		}
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range stored {
			if !yield(n) {
				return
			}
		}
	}) {
		if refs[name] != nil {
			continue
		}
		if err := layout.ValidateContentName(name); err != nil {
			rep.add(ProblemStrayFile, loc.ID, prefix+name, "not a content name Lectern writes")
			continue
		}
		rep.add(ProblemOrphan, loc.ID, prefix+name, "stored (%d bytes) but referenced by no slide set and no live handout", stored[name])
	}
	return nil
}

// errFirstSegment marks an authentication failure before any plaintext came out, which
// is what a wrong key looks like.
var errFirstSegment = errors.New("the first segment does not authenticate")

// verifyContentFile authenticates a content file with key: every segment, or with
// quick only the first and the final one. It returns the plaintext bytes authenticated.
func verifyContentFile(ctx context.Context, b *storage.Bucket, storageKey string, key encryption.Key, quick bool) (int64, error) {
	ranges := [][2]int64{{0, -1}}
	var authenticated []int64 // per range, when its output is not what it authenticated
	if quick {
		head, attrs, err := b.Get(ctx, storageKey, 0, encryption.HeaderSize)
		if err != nil {
			return 0, err
		}
		hb, err := io.ReadAll(head)
		head.Close()
		if err != nil {
			return 0, err
		}
		h, err := encryption.ParseHeader(hb)
		if err != nil {
			return 0, err
		}
		size, err := h.PlaintextSize(attrs.Size)
		if err != nil {
			return 0, err
		}
		firstStart, _, err := h.CiphertextRange(attrs.Size, 0, 1)
		if err != nil {
			return 0, err
		}
		lastStart, lastLen, err := h.CiphertextRange(attrs.Size, max(size-1, 0), -1)
		if err != nil {
			return 0, err
		}
		if size > 0 && firstStart != lastStart {
			ranges = [][2]int64{{0, 1}, {size - 1, -1}}
			// Each read authenticates its whole segment, though it outputs one byte:
			// the count is of the plaintext those segments hold.
			firstPlain := int64(h.SegmentSize()) - encryption.HeaderSize - encryption.TagSize
			lastPlain := lastLen - encryption.TagSize
			authenticated = []int64{firstPlain, lastPlain}
		}
	}
	var read int64
	for i, r := range ranges {
		rc, _, err := openEncrypted(ctx, b, storageKey, key, r[0], r[1])
		if err != nil {
			return read, err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if authenticated != nil && err == nil {
			n = authenticated[i]
		}
		read += n
		if err != nil {
			if i == 0 && n == 0 && errors.Is(err, encryption.ErrAuthentication) {
				return read, fmt.Errorf("%w: %w", errFirstSegment, err)
			}
			return read, err
		}
	}
	return read, nil
}
