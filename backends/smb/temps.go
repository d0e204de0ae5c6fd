package smb

import (
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
