package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lectern/lectern/backends"
	"github.com/lectern/lectern/core/storage"
)

// sameStorage tells whether two storage URLs name the same storage, compared after
// normalising them: for file: URLs the cleaned absolute folders (file:///x, file:///x/,
// file://localhost/x and a relative file:x naming it are one; nested says one folder is
// inside the other), for the others the scheme, the user name, the host in lower case,
// the cleaned path and the parameters in sorted order. Symbolic links are resolved for
// folders that exist. It errs on the side of "different" only for spellings it cannot
// see through (two host names of one server); a URL that does not parse is compared
// as written, and Open then refuses it.
func sameStorage(a, b string) (same, nested bool) {
	if fa, ok := localFolder(a); ok {
		fb, ok := localFolder(b)
		if !ok {
			return false, false
		}
		fa, fb = resolveLinks(fa), resolveLinks(fb)
		if fa == fb {
			return true, false
		}
		return false, within(fa, fb) || within(fb, fa)
	}
	return normalURL(a) == normalURL(b), false
}

// resolveLinks is dir with symbolic links resolved, also in the part of its path that
// exists when it does not.
func resolveLinks(dir string) string {
	// A folder not made yet (a migration's target) is resolved through the longest
	// part of its path that exists, so that a link above it is seen too.
	missing := ""
	for {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, missing)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join(dir, missing)
		}
		missing = filepath.Join(filepath.Base(dir), missing)
		dir = parent
	}
}

// within tells whether dir is strictly inside parent (both clean and absolute).
func within(dir, parent string) bool {
	rel, err := filepath.Rel(parent, dir)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// normalURL is rawURL with the parts that do not change the storage it names spelt
// one way; rawURL itself when it does not parse.
func normalURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	n := url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Opaque: u.Opaque, RawQuery: u.Query().Encode()}
	if u.User != nil {
		n.User = url.User(u.User.Username()) // a password does not change the storage
	}
	if u.Path != "" {
		n.Path = strings.TrimSuffix(path.Clean("/"+u.Path), "/")
	}
	return n.String()
}

type migrateOptions struct {
	from, to  string
	prefix    string
	overwrite bool
	parallel  int
	// removeLeftovers removes, from the target, what writes cut short before this
	// run began left there (a killed earlier run's partial copies).
	removeLeftovers bool
}

// migrateSummary is what migrate did.
type migrateSummary struct {
	Objects  int      `json:"objects"`
	Copied   int      `json:"copied"`
	Skipped  int      `json:"skipped"` // already on the target, same size and SHA-256
	Bytes    int64    `json:"bytes_copied"`
	Verified int      `json:"verified"`
	Failed   []string `json:"failed"`
	// LeftoversRemoved counts what --remove-leftovers removed from the target.
	LeftoversRemoved int `json:"leftovers_removed"`
}

func (a *app) migrateCommand() *cobra.Command {
	var o migrateOptions
	c := &cobra.Command{
		Use:   "migrate --from URL --to URL [--prefix P] [--overwrite]",
		Short: "Copy every object of one backend to another and verify the copy",
		Long: `Copy every object (or those under --prefix) from one storage backend to another,
streaming, with create-only puts on the target unless --overwrite. Each copy is
verified: the target's size, and the SHA-256 of the bytes read from the source against
the SHA-256 of the target read back. An object already on the target with the same size
and SHA-256 is skipped, so an interrupted migration is resumed by running it again; one
that differs is reported and left alone unless --overwrite.

Stop the servers writing to the source first: objects changed during the copy may be
copied in either state. Both URLs take the forms of lecternd --backend
(file:///abs/path, s3://…, smb://…).

A run that is killed leaves its partial copies on the target where no key names them
(disk and SMB: hidden temporary files; S3: incomplete multipart uploads, which are
billed). --remove-leftovers removes those of writes begun before this run, anywhere
on the target, first: use it only when nothing else writes to the target (on S3 it
would cut short another writer's upload). A lecternd serving the target removes them
too, a day later.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.migrate(cmd.Context(), o) },
	}
	f := c.Flags()
	f.StringVar(&o.from, "from", "", "source storage URL")
	f.StringVar(&o.to, "to", "", "target storage URL")
	f.StringVar(&o.prefix, "prefix", "", "copy only keys starting with this prefix")
	f.BoolVar(&o.overwrite, "overwrite", false, "replace objects that differ on the target")
	f.IntVar(&o.parallel, "parallel", 4, "objects copied at once")
	f.BoolVar(&o.removeLeftovers, "remove-leftovers", false, "first remove from the target what killed earlier runs left (only when nothing else writes to it)")
	_ = c.MarkFlagRequired("from")
	_ = c.MarkFlagRequired("to")
	return c
}

func (a *app) migrate(ctx context.Context, o migrateOptions) error {
	if same, nested := sameStorage(o.from, o.to); same {
		return usagef("--from and --to are the same storage")
	} else if nested {
		return usagef("--from and --to are folders one inside the other: the copy would be copied again on the next run")
	}
	if o.parallel < 1 {
		return usagef("--parallel must be at least 1")
	}
	if err := storage.ValidatePrefix(o.prefix); err != nil {
		return usagef("--prefix: %v", err)
	}
	if err := requireExistingFolder("--from", o.from); err != nil {
		return err
	}
	src, err := backends.Open(ctx, o.from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := backends.Open(ctx, o.to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	started := time.Now()

	var removed int
	if o.removeLeftovers {
		n, ok, err := dst.RemoveLeftovers(ctx, started)
		if err != nil {
			return fmt.Errorf("--remove-leftovers: %w", err)
		}
		if !ok {
			fmt.Fprintln(a.stderr, "lectern: the target's backend leaves nothing behind to remove; --remove-leftovers did nothing")
		}
		removed = n
	}

	var objs []storage.Attributes
	var total int64
	for attrs, err := range src.List(ctx, o.prefix) {
		if err != nil {
			return fmt.Errorf("listing the source: %w", err)
		}
		objs = append(objs, attrs)
		total += attrs.Size
	}
	m := &migration{src: src, dst: dst, o: o, bar: a.newProgress(total, "migrating")}
	m.sum.Objects = len(objs)
	m.sum.LeftoversRemoved = removed
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.parallel)
	for _, obj := range objs {
		g.Go(func() error {
			err := m.one(gctx, obj)
			if err != nil && !storage.IsRetryable(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				// One object's failure is reported, the others still go.
				m.fail(obj.Key, err)
				return nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		m.bar.Abandon()
		return fmt.Errorf("migration stopped (run it again to resume): %w", err)
	}
	m.bar.Finish()
	s := m.sum
	if a.jsonOutput() {
		if s.Failed == nil {
			s.Failed = []string{}
		}
		if err := a.printJSON(s); err != nil {
			return err
		}
	} else {
		for _, f := range s.Failed {
			fmt.Fprintln(a.stdout, "FAILED", f)
		}
		fmt.Fprintf(a.stdout, "%d object(s): %d copied (%d bytes), %d already present and identical, %d failed; %d verified (size and SHA-256 of both sides)\n",
			s.Objects, s.Copied, s.Bytes, s.Skipped, len(s.Failed), s.Verified)
		if o.removeLeftovers {
			fmt.Fprintf(a.stdout, "%d leftover(s) of earlier writes removed from the target\n", s.LeftoversRemoved)
		}
	}
	if len(s.Failed) > 0 {
		return exitCodeError{code: exitError, msg: fmt.Sprintf("%d object(s) not migrated", len(s.Failed))}
	}
	return nil
}

type migration struct {
	src, dst *storage.Bucket
	o        migrateOptions
	bar      *progress

	mu  sync.Mutex
	sum migrateSummary
}

func (m *migration) fail(key string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sum.Failed = append(m.sum.Failed, fmt.Sprintf("%s: %v", key, err))
}

// one copies (or skips) one object and verifies the target.
func (m *migration) one(ctx context.Context, obj storage.Attributes) error {
	cur, err := m.dst.Stat(ctx, obj.Key)
	switch {
	case err == nil && cur.Size == obj.Size:
		srcSum, _, err := hashObject(ctx, m.src, obj.Key)
		if err != nil {
			return err
		}
		dstSum, _, err := hashObject(ctx, m.dst, obj.Key)
		if err != nil {
			return err
		}
		if bytes.Equal(srcSum, dstSum) {
			m.bar.Add(obj.Size)
			m.mu.Lock()
			m.sum.Skipped++
			m.sum.Verified++
			m.mu.Unlock()
			return nil
		}
		if !m.o.overwrite {
			return errors.New("exists on the target with different content (--overwrite replaces it)")
		}
	case err == nil:
		if !m.o.overwrite {
			return fmt.Errorf("exists on the target with a different size (%d, source %d; --overwrite replaces it)", cur.Size, obj.Size)
		}
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}

	rc, attrs, err := m.src.Get(ctx, obj.Key, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(rc, h)}
	cond := storage.Condition{}
	if !m.o.overwrite && m.dst.Capabilities().ConditionalCreate {
		cond.IfNotExists = true
	}
	if _, err := m.dst.Put(ctx, obj.Key, m.bar.Reader(cr), storage.PutOptions{Condition: cond, Size: attrs.Size}); err != nil {
		if errors.Is(err, storage.ErrPrecondition) {
			return errors.New("created on the target by someone else during the copy")
		}
		return err
	}
	// Verify: the target's size, and its bytes read back against what was read.
	dstSum, n, err := hashObject(ctx, m.dst, obj.Key)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if n != cr.n || !bytes.Equal(dstSum, h.Sum(nil)) {
		return fmt.Errorf("verify: the target (%d bytes) does not match the %d bytes read from the source", n, cr.n)
	}
	m.mu.Lock()
	m.sum.Copied++
	m.sum.Verified++
	m.sum.Bytes += n
	m.mu.Unlock()
	return nil
}

func hashObject(ctx context.Context, b *storage.Bucket, key string) ([]byte, int64, error) {
	rc, _, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return nil, n, err
	}
	return h.Sum(nil), n, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
