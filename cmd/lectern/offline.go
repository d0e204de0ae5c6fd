package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/keywrap"
	"github.com/lectern/lectern/core/layout"
	"github.com/lectern/lectern/core/metadata"
	"github.com/lectern/lectern/core/metastore"
	"github.com/lectern/lectern/core/storage"
)

// The offline commands work on a storage backend directly, with the server's KEK
// (lecternd keeps it in <data-dir>/config/kek.hex). They only read, and refuse a file:
// folder that does not exist rather than let the disk backend create it.

// storeFlags are the flags of the commands that open a backend with the KEK.
type storeFlags struct {
	backend string
	kekFile string
}

func (a *app) addStoreFlags(c *cobra.Command, s *storeFlags) {
	c.Flags().StringVar(&s.backend, "backend", a.getenv("LECTERN_BACKEND"), "storage URL, e.g. file:///srv/lectern-data/store (env LECTERN_BACKEND)")
	c.Flags().StringVar(&s.kekFile, "kek-file", a.getenv("LECTERN_KEK_FILE"), "the server's key-encryption key in hex, e.g. lectern-data/config/kek.hex (env LECTERN_KEK_FILE)")
}

// open opens the backend and reads the KEK; warnings go to warn.
func (s storeFlags) open(ctx context.Context, warn io.Writer) (*storage.Bucket, [keywrap.KeySize]byte, error) {
	var kek [keywrap.KeySize]byte
	if s.backend == "" || s.kekFile == "" {
		return nil, kek, usagef("--backend and --kek-file are required")
	}
	kek, err := readKEK(s.kekFile)
	if err != nil {
		return nil, kek, err
	}
	warnIfShared(warn, s.kekFile)
	if err := requireExistingFolder("--backend", s.backend); err != nil {
		return nil, kek, err
	}
	b, err := backends.Open(ctx, s.backend)
	if err != nil {
		return nil, kek, fmt.Errorf("--backend: %w", err)
	}
	return b, kek, nil
}

// localFolder returns the folder a file: storage URL names, absolute and cleaned, and
// ok false for any other URL (one that does not parse too: backends.Open says why).
// It follows the syntax backends/disk.OpenURL accepts (file:///abs, file://localhost/abs,
// file:rel); a URL that OpenURL refuses is left to it. backends/disk exports no parser
// of its own, hence this copy of the few lines that find the path.
func localFolder(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "file" {
		return "", false
	}
	var path string
	switch {
	case u.Opaque != "":
		if path, err = url.PathUnescape(u.Opaque); err != nil {
			return "", false
		}
	case u.Host != "" && u.Host != "localhost":
		return "", false
	default:
		path = u.Path
	}
	if path == "" {
		return "", false
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	return abs, true
}

// requireExistingFolder refuses a file: URL whose folder does not exist. The disk
// backend creates its folder when it opens, which is right for a server's first start
// but turns a typo in a command that only reads (fsck, inspect, the source of migrate)
// into a new empty store and a clean report.
func requireExistingFolder(flagName, rawURL string) error {
	dir, ok := localFolder(rawURL)
	if !ok {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: the folder %s does not exist (check the URL; this command creates no store): %w", flagName, dir, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("%s: %w", flagName, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a folder", flagName, dir)
	}
	return nil
}

// kekIDBeside returns the KEK's id as lecternd keeps it, in the file kek-id beside
// the KEK file (written by a KEK rotation, docs/operations.md), or kek-1, the id of a
// store that never rotated.
func kekIDBeside(kekFile string) string {
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(kekFile), "kek-id")); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id
		}
	}
	return "kek-1"
}

// warnIfShared warns when other users can read the KEK file. lecternd refuses such a
// file; these commands only warn, as they are run to look at a store, often a backup
// copy restored elsewhere (as root, on another machine, with the default umask), and
// refusing would stand in the way of exactly that recovery. The warning names the
// file and its mode, never its contents.
func warnIfShared(warn io.Writer, path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	fmt.Fprintf(warn, "lectern: warning: --kek-file %s is accessible by other users (mode %04o): whoever reads it can decrypt the store; run chmod 600 on it (lecternd refuses to start with such a file)\n",
		path, fi.Mode().Perm())
}

// readKEK reads a hex KEK file. Errors name the file, never its contents.
func readKEK(path string) ([keywrap.KeySize]byte, error) {
	var kek [keywrap.KeySize]byte
	b, err := os.ReadFile(path)
	if err != nil {
		return kek, fmt.Errorf("--kek-file: %w", err)
	}
	v, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(v) != keywrap.KeySize {
		return kek, fmt.Errorf("--kek-file %s does not hold %d bytes in hex", path, keywrap.KeySize)
	}
	copy(kek[:], v)
	return kek, nil
}

// masterSealer opens metadata files with a conference's master key, as the engine
// seals them.
type masterSealer struct{ k encryption.Key }

func (s masterSealer) Seal(p []byte) ([]byte, error) { return encryption.Seal(s.k, p) }
func (s masterSealer) Open(c []byte) ([]byte, error) { return encryption.Open(s.k, c) }

func (a *app) inspectCommand() *cobra.Command {
	var s storeFlags
	c := &cobra.Command{
		Use:   "inspect --backend URL --kek-file F KEY...",
		Short: "Decrypt and print metadata files (conference.xml, .exml, journal records) from storage",
		Long: `Print metadata files straight from storage. KEY is a storage key such as
  meta/<organizer hash>/<conference>/conference.xml
  meta/<organizer hash>/<conference>/set-aaa.exml      (or set-s-aaa.exml, the backup)
  meta/<organizer hash>/<conference>/ft/fileset-aaa.exml
  meta/<organizer hash>/<conference>/journal/<sequence number>
For conference.xml the master key is unwrapped with the KEK to prove it opens (the key
itself is never printed). Any other file is decrypted with the master key found through
the conference.xml of its folder, and its envelope (kind, document, generation) is
checked as the server checks it. The document goes to stdout, the description to stderr.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, kek, err := s.open(cmd.Context(), a.stderr)
			if err != nil {
				return err
			}
			defer b.Close()
			var all []inspected
			for _, key := range args {
				in, err := inspectKey(cmd.Context(), b, kek, key)
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				all = append(all, in)
			}
			if a.jsonOutput() {
				return a.printJSON(all)
			}
			for _, in := range all {
				fmt.Fprintf(a.stderr, "# %s: %s\n", in.Key, in.Description)
				if len(args) > 1 {
					fmt.Fprintf(a.stdout, "==> %s <==\n", in.Key)
				}
				fmt.Fprint(a.stdout, in.Data)
				if !strings.HasSuffix(in.Data, "\n") {
					fmt.Fprintln(a.stdout)
				}
			}
			return nil
		},
	}
	a.addStoreFlags(c, &s)
	return c
}

// inspected is one decrypted file.
type inspected struct {
	Key         string `json:"key"`
	Kind        string `json:"kind"`
	Document    string `json:"document,omitempty"`
	Generation  uint64 `json:"generation,omitempty"`
	Backup      bool   `json:"backup,omitempty"`
	Deleted     bool   `json:"deleted,omitempty"`
	Description string `json:"description"`
	Data        string `json:"data"`
}

// conferenceFolder splits meta/<orghash>/<id>/<rel> into the conference and rel.
func conferenceFolder(key string) (layout.Conference, string, error) {
	parts := strings.SplitN(key, "/", 4)
	if len(parts) != 4 || parts[0] != layout.MetadataRoot {
		return layout.Conference{}, "", usagef("%q is not a key under %s/<organizer hash>/<conference>/", key, layout.MetadataRoot)
	}
	loc := layout.Conference{OrgHash: parts[1], ID: parts[2]}
	if layout.ValidateOrganizerHash(loc.OrgHash) != nil || layout.ValidateConferenceID(loc.ID) != nil {
		return layout.Conference{}, "", usagef("%q is not a key under %s/<organizer hash>/<conference>/", key, layout.MetadataRoot)
	}
	return loc, parts[3], nil
}

// openConferenceFile reads conference.xml and unwraps the master key with the KEK.
func openConferenceFile(ctx context.Context, b *storage.Bucket, kek [keywrap.KeySize]byte, loc layout.Conference) (*metadata.Conference, []byte, encryption.Key, error) {
	raw, _, err := b.ReadAllLimit(ctx, loc.ConferenceFile(), metadata.MaxConferenceSize)
	if err != nil {
		return nil, nil, encryption.Key{}, err
	}
	doc, err := metadata.UnmarshalConference(raw)
	if err != nil {
		return nil, nil, encryption.Key{}, fmt.Errorf("conference.xml: %w", err)
	}
	if doc.ID != loc.ID {
		return nil, nil, encryption.Key{}, fmt.Errorf("conference.xml names conference %q, its folder %q", doc.ID, loc.ID)
	}
	master, err := keywrap.Unwrap(kek, doc.WrappedMasterKey, doc.KEKID, doc.ID)
	if err != nil {
		return nil, nil, encryption.Key{}, fmt.Errorf("the master key does not unwrap with this KEK (kek-id %q): %w", doc.KEKID, err)
	}
	return doc, raw, encryption.Key(master), nil
}

func inspectKey(ctx context.Context, b *storage.Bucket, kek [keywrap.KeySize]byte, key string) (inspected, error) {
	loc, rel, err := conferenceFolder(key)
	if err != nil {
		return inspected{}, err
	}
	doc, raw, master, err := openConferenceFile(ctx, b, kek, loc)
	if err != nil {
		return inspected{}, err
	}
	if rel == "conference.xml" {
		return inspected{Key: key, Kind: "conference", Data: string(raw),
			Description: fmt.Sprintf("conference %s of %s; the master key unwraps with this KEK (kek-id %s)", doc.ID, doc.Organizer, doc.KEKID)}, nil
	}
	sealed, _, err := b.ReadAllLimit(ctx, key, metastore.MaxFileSize)
	if err != nil {
		return inspected{}, err
	}
	f, err := metastore.OpenFile(masterSealer{master}, rel, sealed)
	if err != nil {
		return inspected{}, err
	}
	in := inspected{Key: key, Kind: f.Kind.String(), Generation: f.Generation, Backup: f.Backup, Deleted: f.Deleted, Data: string(f.Data)}
	switch f.Kind {
	case metastore.SnapshotFile:
		copyName := "primary copy"
		if f.Backup {
			copyName = "backup copy"
		}
		in.Document = f.Doc.String()
		in.Description = fmt.Sprintf("%s of %s, generation %d", copyName, f.Doc, f.Generation)
	case metastore.JournalFile:
		in.Document = f.Doc.String()
		op := "put"
		if f.Deleted {
			op = "delete"
		}
		in.Description = fmt.Sprintf("journal record %d: %s of %s", f.Seq, op, f.Doc)
	case metastore.IDFile:
		in.Description = "id file: last id " + string(f.Data)
	}
	return in, nil
}

func (a *app) fsckCommand() *cobra.Command {
	var s storeFlags
	var conf string
	var quick, allowEmpty bool
	c := &cobra.Command{
		Use:   "fsck --backend URL --kek-file F [--conference ID] [--quick] [--allow-empty]",
		Short: "Check a store: metadata decrypts, copies agree, content exists and decrypts, orphans (exit 3 on findings)",
		Long: `Check every conference of a store (or one): every metadata file decrypts and decodes,
the primary and backup copy of each document agree (or which is newer), every content
file a document references exists and authenticates in full with the key in the
reference (--quick: only its first and final segments), and content no document
references (orphans) is listed. It only reads; run it on a store no server is writing
to for exact results, as a running server's changes between two reads can show up as
findings. Exit code 0: nothing found; 3: findings (listed with their severity); 1: the
check itself failed, the file: folder does not exist, or the store holds no conference
at all (unless --allow-empty).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			b, kek, err := s.open(ctx, a.stderr)
			if err != nil {
				return err
			}
			defer b.Close()
			e, err := conference.New(conference.Config{Bucket: b, KEK: kek, KEKID: kekIDBeside(s.kekFile),
				Logger: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(ctx))
			bar := a.newProgress(-1, "checking content")
			rep, err := e.Fsck(ctx, conf, conference.FsckOptions{Quick: quick, Progress: func(_ string, size int64) { bar.Add(size) }})
			bar.Finish()
			if err != nil {
				return err
			}
			if err := a.printFsck(rep, quick); err != nil {
				return err
			}
			if conf == "" && rep.Conferences == 0 && len(rep.Problems) == 0 && !allowEmpty {
				// Nothing Lectern writes is there: most likely the URL names the wrong
				// folder or bucket, and a clean report would vouch for a backup of it.
				return fmt.Errorf("the store holds no conference (nothing under %s/, %s/ or %s/): is --backend the store's URL? (--allow-empty accepts an empty store)",
					layout.IndexRoot, layout.MetadataRoot, layout.ContentRoot)
			}
			if !rep.OK() {
				return exitCodeError{code: exitProblems}
			}
			return nil
		},
	}
	a.addStoreFlags(c, &s)
	c.Flags().StringVar(&conf, "conference", "", "check only this conference")
	c.Flags().BoolVar(&quick, "quick", false, "authenticate only the first and final segment of each content file")
	c.Flags().BoolVar(&allowEmpty, "allow-empty", false, "a store with no conference at all passes (exit 0) instead of failing (exit 1)")
	return c
}

func (a *app) printFsck(rep conference.FsckReport, quick bool) error {
	if a.jsonOutput() {
		if rep.Problems == nil {
			rep.Problems = []conference.Problem{}
		}
		return a.printJSON(rep)
	}
	if len(rep.Problems) > 0 {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tKIND\tCONFERENCE\tKEY\tDETAIL")
		for _, p := range rep.Problems {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(string(p.Severity)), p.Kind, p.Conference, p.Key, p.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	mode := "in full"
	if quick {
		mode = "first and final segments"
	}
	errs := rep.Errors()
	fmt.Fprintf(a.stdout, "checked %d conference(s), %d metadata file(s), %d content file(s) (%d bytes authenticated, %s): %d error(s), %d warning(s)\n",
		rep.Conferences, rep.MetadataFiles, rep.ContentFiles, rep.VerifiedBytes, mode, errs, len(rep.Problems)-errs)
	return nil
}

func (a *app) hashURICommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hash-uri URI...",
		Short: "Print the organizer hash (the folder name) of organizer URIs",
		Long: `Print layout.OrganizerHash of each URI: the first 16 bytes of the SHA-256 of the URI,
trimmed and lower-cased, as 32 hex digits. It names the organizer's folder under meta/
and content/, and appears in content URLs.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, uri := range args {
				if strings.TrimSpace(uri) == "" {
					return usagef("an organizer URI must not be empty")
				}
				if len(args) == 1 {
					fmt.Fprintln(a.stdout, layout.OrganizerHash(uri))
				} else {
					fmt.Fprintf(a.stdout, "%s  %s\n", layout.OrganizerHash(uri), uri)
				}
			}
			return nil
		},
	}
}
