package smb

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference/conferencetest"
)

// BenchmarkRemoveLeftovers measures what the hourly retention sweep's look for
// leftovers of dead writes costs on a share holding a store shaped like 200
// conferences (7,800 files in 1,000 folders, nothing to remove), against a recursive
// listing of the same folder by `smbclient -c 'recurse ON; ls'` (process start and
// session included), alternating in each iteration; docs/benchmarks-smb.md has the
// numbers. The tree is written into the share's local folder, so the benchmark needs
// the tests' own Samba.
func BenchmarkRemoveLeftovers(b *testing.B) {
	e := newBenchEnv(b, []byte("x"))
	if e.srv.Root == "" {
		b.Skip("the Samba server is not the tests' own: the tree cannot be written into its folder")
	}
	files := conferencetest.StoreTree(b, filepath.Join(e.srv.Root, filepath.FromSlash(e.srv.Base), e.folder, "bench"), 200)
	d := e.bucket.Driver().(*Driver)
	raw := func() time.Duration {
		t0 := time.Now()
		e.smbclient(b, "recurse ON; ls")
		return time.Since(t0)
	}
	conferencetest.BenchRemoveLeftovers(b, d, files, "smbclient-ms", raw)
}
