package metastore

import (
	"fmt"
	"strconv"
	"strings"
)

// Offline inspection: tools that read a metadata folder without a Store (`lectern
// inspect`, `lectern fsck`) must not open one, because opening replays the journal and
// heals damaged copies, that is, it writes. These functions decode single files with
// exactly the checks a Store applies, and never touch storage.

// FileKind says which role a sealed metadata file plays in a Store's folder.
type FileKind uint8

const (
	// SnapshotFile is a document copy: set-<id>.exml, set-s-<id>.exml, ft/fileset-….
	SnapshotFile FileKind = iota + 1
	// JournalFile is a journal record: journal/<20-digit sequence number>.
	JournalFile
	// IDFile is an id counter or claim: SSMaxId, ft/FTMaxID, ids/<kind>-<id>.
	IDFile
)

func (k FileKind) String() string {
	switch k {
	case SnapshotFile:
		return "snapshot"
	case JournalFile:
		return "journal"
	case IDFile:
		return "id"
	}
	return fmt.Sprintf("filekind(%d)", uint8(k))
}

// FileName is what a key (relative to a Store's prefix) says about a file, before it is
// read.
type FileName struct {
	Kind FileKind
	// Doc is the document of a snapshot copy; zero for journal records (a record names
	// its document only inside) and id files.
	Doc Doc
	// Backup: a snapshot copy that is the backup (set-s-…, ft/fileset-s-…).
	Backup bool
	// Seq is a journal record's sequence number.
	Seq uint64
}

// ParseFileName recognises the key, relative to a Store's prefix, of a file the Store
// owns. ok is false for any other key (conference.xml, stray files), which a Store
// ignores.
func ParseFileName(key string) (FileName, bool) {
	for _, k := range Kinds {
		if id, backup, ok := parseDocKey(k, key); ok {
			return FileName{Kind: SnapshotFile, Doc: Doc{Kind: k, ID: id}, Backup: backup}, true
		}
	}
	if rest, ok := strings.CutPrefix(key, JournalPrefix); ok {
		seq, err := strconv.ParseUint(rest, 10, 64)
		if err != nil || len(rest) != 20 {
			return FileName{}, false
		}
		return FileName{Kind: JournalFile, Seq: seq}, true
	}
	for _, k := range Kinds {
		n := kindTable[k]
		if key == n.maxID {
			return FileName{Kind: IDFile}, true
		}
		if id, ok := strings.CutPrefix(key, n.claim); ok {
			if _, valid := ParseID(id); valid {
				return FileName{Kind: IDFile}, true
			}
		}
	}
	return FileName{}, false
}

// File is one decrypted and decoded metadata file.
type File struct {
	FileName
	// Generation of a snapshot copy (the journal sequence number of the last change it
	// holds; of two copies the higher one is newer) or a journal record's sequence
	// number. Zero for id files.
	Generation uint64
	// Deleted: a journal record of a delete (Data is empty).
	Deleted bool
	// Data is the document (snapshot, journal put) or the id (id file).
	Data []byte
}

// OpenFile decrypts and decodes the sealed file stored under key (relative to the
// Store's prefix) with the checks a Store applies when loading it: the file must be of
// the role its key names, bound to the document (or id file) its key names, and, for a
// journal record, hold the sequence number of its key and a known operation. A key
// that names no file of a Store is ErrInvalidDoc; every other failure is a
// *CorruptError (matching ErrCorrupt) that never holds contents or key material.
func OpenFile(sealer Sealer, key string, sealed []byte) (File, error) {
	fn, ok := ParseFileName(key)
	if !ok {
		return File{}, fmt.Errorf("metastore: %q is not a metadata file of a conference folder: %w", printable(key), ErrInvalidDoc)
	}
	f := File{FileName: fn}
	plain, err := sealer.Open(sealed)
	if err != nil {
		return File{}, &CorruptError{Key: key, Reason: "does not decrypt", Err: err}
	}
	var magic, name string
	switch fn.Kind {
	case SnapshotFile:
		magic, name = magicSnapshot, fn.Doc.String()
	case JournalFile:
		magic = magicJournal
	case IDFile:
		magic, name = magicIDFile, key
	}
	env, err := decodeEnvelope(plain, magic)
	if err != nil {
		return File{}, &CorruptError{Key: key, Reason: "does not decode", Err: err}
	}
	switch fn.Kind {
	case JournalFile:
		if env.gen != fn.Seq {
			return File{}, &CorruptError{Key: key, Reason: fmt.Sprintf("holds record %d", env.gen)}
		}
		if env.op != opPut && env.op != opDelete {
			return File{}, &CorruptError{Key: key, Reason: "has an unknown operation"}
		}
		d, err := parseDocName(env.name)
		if err != nil {
			return File{}, &CorruptError{Key: key, Reason: "names no valid document", Err: err}
		}
		f.Doc, f.Deleted = d, env.op == opDelete
	default:
		if env.name != name {
			return File{}, &CorruptError{Key: key, Reason: fmt.Sprintf("belongs to %q", printable(env.name))}
		}
	}
	if fn.Kind != IDFile {
		f.Generation = env.gen
	}
	f.Data = env.data
	return f, nil
}
