package smb

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"
)

// A process that dies during a Put (kill -9, a power cut, a network lost for good)
// leaves its temporary file behind. List never shows it, so nothing above the driver
// can delete it, and its folder could never be pruned. SMB has no lock that dies with
// its holder (the disk backend uses flock for this), so the rule is age: a live Put
// writes its temporary file for as long as it lasts, and one untouched for
// deadTempAge was left by a Put that will never finish. An hour is far over any pause
// of a live Put and over the clock skew between lecternd and the file server; the
// folders this matters for (an unfinished upload's) are deleted days later.
const deadTempAge = time.Hour

// tempDirBatch is how many entries removeDeadTemps reads at a time: a folder that
// still holds keys is usually recognised in the first batch.
const tempDirBatch = 64

const tempPrefix = ".tmp-"

// removeDeadTemps removes the dead Puts' temporary files from dir when dir holds
// nothing else, and reports whether it removed them all (dir may then be empty).
func (d *Driver) removeDeadTemps(sh *smb2.Share, dir string) bool {
	f, err := sh.Open(dir)
	if err != nil {
		return false
	}
	var dead []string
	for {
		infos, err := f.Readdir(tempDirBatch)
		for _, fi := range infos {
			if !strings.HasPrefix(fi.Name(), tempPrefix) || fi.IsDir() || time.Since(fi.ModTime()) < d.deadTempAge {
				f.Close()
				return false
			}
			dead = append(dead, fi.Name())
		}
		if errors.Is(err, io.EOF) || (err == nil && len(infos) == 0) {
			break
		}
		if err != nil {
			f.Close()
			return false
		}
	}
	f.Close()
	for _, name := range dead {
		p := joinPath(dir, name)
		if err := sh.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("smb: could not remove a dead put's temporary file", "share", d.String(), "path", p, "err", err)
			return false
		}
		d.log.Info("smb: removed the temporary file of a put that did not finish (a crash)", "share", d.String(), "path", p)
	}
	return len(dead) > 0
}

// isLeftoverName reports whether a dot-name in a folder is one a change makes and
// removes when it ends: a Put's temporary file, a key lock or an append claim.
func isLeftoverName(name string) bool {
	return strings.HasPrefix(name, tempPrefix) ||
		strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, ".append"))
}

// RemoveLeftovers implements storage.LeftoverRemover: below the driver's folder it
// removes the temporary files, key locks and append claims last changed before the
// given time, and then the folders they alone kept. Each of those is changed while it
// is in use (a live Put writes its temporary file, a lock lives for seconds, a claim
// is renewed several times a second), so one untouched since long before is a dead
// change's. prune does this for a folder whose last key goes, for temporary files;
// this reaches folders that keep keys, and orphaned locks and claims of keys nobody
// writes again (the next writer breaks those after staleAfter). Folders empty since
// before that time go too: a change that died between making one and its file left it.
func (d *Driver) RemoveLeftovers(ctx context.Context, before time.Time) (int, error) {
	if err := d.check("remove leftovers", ""); err != nil {
		return 0, err
	}
	c, err := d.pool.get(ctx)
	if err != nil {
		return 0, err
	}
	sh := c.on(ctx)
	removed := 0
	var emptied []string // a path in each folder to prune
	var visit func(dir string, old bool) error
	visit = func(dir string, old bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		listed := dir
		if listed == "" {
			listed = "."
		}
		infos, err := sh.ReadDir(listed)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed by a concurrent delete
		}
		if err != nil {
			return err
		}
		found, entries := "", 0
		for _, fi := range infos {
			name := fi.Name()
			if name != "" && name != "." && name != ".." {
				entries++
			}
			switch {
			case name == "" || name == "." || name == "..":
			case fi.IsDir():
				if name[0] != '.' {
					if err := visit(joinPath(dir, name), fi.ModTime().Before(before)); err != nil {
						return err
					}
				}
			case isLeftoverName(name) && fi.ModTime().Before(before):
				p := joinPath(dir, name)
				if err := sh.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					if isBusy(err) {
						continue // open: somebody is using it after all
					}
					return err
				}
				removed++
				found = p
				d.log.Info("smb: removed what a change that did not finish left (a crash)", "share", d.String(), "path", p)
			}
		}
		switch {
		case found != "":
			emptied = append(emptied, found)
		case entries == 0 && old:
			// Empty since before the cut-off: a change that died between making
			// the folder and its file left it.
			emptied = append(emptied, joinPath(dir, "-"))
		}
		return nil
	}
	err = visit(d.path(""), false)
	for _, p := range emptied {
		d.prune(sh, p)
	}
	d.pool.put(c, err)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return removed, ctxErr
		}
		return removed, classify("remove leftovers", "", err)
	}
	return removed, nil
}
