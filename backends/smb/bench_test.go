package smb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/conformance/servers/samba"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/conference/conferencetest"
	"github.com/lectern/lectern/core/storage"
)

// The benchmarks compare the SMB backend, used through storage.Bucket as the engine
// uses it, with `smbclient put` and `smbclient get` of the same bytes against the same
// Samba, in the same run; docs/benchmarks-smb.md has the command and the numbers.
//
//	put  smbclient: the whole command `smbclient //host/share -A authfile -c 'put FILE
//	       NAME'` (process start, connect, authenticate, upload from a local file in
//	       the page cache)
//	     lectern: Bucket.Put of a new key from a bytes.Reader on an open driver (the
//	       server keeps its drivers open), including the temporary file, stamp, lock
//	       and rename
//	get  smbclient: `smbclient ... -c 'get NAME /dev/null'`
//	     lectern: Bucket.Get of the whole object, drained through a 1 MiB buffer
//
// Each iteration runs both sides, in alternating order (conformance.RunPaired), and
// the ratio lectern / smbclient of their throughputs is reported, over the run and as
// the median of the iterations' ratios: on a machine shared with other work this is
// far steadier than comparing benchmarks that run seconds apart. Objects are removed
// after each put, untimed.

func benchData(n int) []byte {
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	return data
}

type benchEnv struct {
	srv      *samba.Server
	folder   string
	bucket   *storage.Bucket
	authFile string
	local    string // the bytes as a local file, for smbclient put
}

func newBenchEnv(b *testing.B, data []byte) *benchEnv {
	b.Helper()
	if _, err := exec.LookPath("smbclient"); err != nil {
		b.Skip("smbclient is not installed")
	}
	srv := samba.Start(b)
	e := &benchEnv{srv: srv, folder: srv.NewFolder(b)}
	e.bucket = storage.NewBucket(openOn(b, srv, e.folder, ""))
	dir := b.TempDir()
	e.authFile = filepath.Join(dir, "auth")
	auth := fmt.Sprintf("username = %s\npassword = %s\n", srv.User, srv.Password)
	if srv.Domain != "" {
		auth += "domain = " + srv.Domain + "\n"
	}
	if err := os.WriteFile(e.authFile, []byte(auth), 0o600); err != nil {
		b.Fatal(err)
	}
	e.local = filepath.Join(dir, "data")
	if err := os.WriteFile(e.local, data, 0o600); err != nil {
		b.Fatal(err)
	}
	// The folder must exist for smbclient: one put through the backend creates it.
	if _, err := e.bucket.PutBytes(context.Background(), "bench/keep", []byte("x"), storage.Condition{}); err != nil {
		b.Fatal(err)
	}
	return e
}

// smbclient runs one smbclient command in the benchmark folder.
func (e *benchEnv) smbclient(b *testing.B, command string) {
	b.Helper()
	host, port, _ := strings.Cut(e.srv.Host, ":")
	args := []string{"//" + host + "/" + e.srv.Share, "-A", e.authFile, "-D", strings.Trim(e.srv.Base+"/"+e.folder+"/bench", "/"), "-c", command}
	if port != "" {
		args = append(args, "-p", port)
	}
	out, err := exec.Command("smbclient", args...).CombinedOutput()
	if err != nil {
		b.Fatalf("smbclient %s: %v\n%s", command, err, out)
	}
}

// smbclientPut is the raw side of a put benchmark: the i-th smbclient put of the
// bytes; the object is deleted untimed.
func (e *benchEnv) smbclientPut() conformance.PairedSide {
	return conformance.PairedSide{
		Name: "smbclient",
		Run:  func(b *testing.B, i int) { e.smbclient(b, "put "+e.local+" raw-"+strconv.Itoa(i)) },
		Cleanup: func(b *testing.B, i int) {
			if err := e.bucket.Delete(context.Background(), "bench/raw-"+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		},
	}
}

var benchSizes = []struct {
	name string
	n    int
}{{"1MiB", 1 << 20}, {"256MiB", 256 << 20}}

func BenchmarkPaired(b *testing.B) {
	for _, size := range benchSizes {
		data := benchData(size.n)
		b.Run("put/"+size.name, func(b *testing.B) {
			e := newBenchEnv(b, data)
			ctx := context.Background()
			key := func(i int) string { return "bench/ours-" + strconv.Itoa(i) }
			conformance.RunPaired(b, int64(size.n), e.smbclientPut(), conformance.PairedSide{
				Name: "lectern",
				Run: func(b *testing.B, i int) {
					if _, err := e.bucket.Put(ctx, key(i), bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
						b.Fatal(err)
					}
				},
				Cleanup: func(b *testing.B, i int) {
					if err := e.bucket.Delete(ctx, key(i)); err != nil {
						b.Fatal(err)
					}
				},
			})
		})
		// SPEC section 8's upload bar on SMB: the engine's StoreContent (encrypt +
		// store, create-only, through this backend) against smbclient put.
		b.Run("engine-store/"+size.name, func(b *testing.B) {
			e := newBenchEnv(b, data)
			eng := conferencetest.BenchEngine(b, e.bucket)
			ctx := context.Background()
			var name string
			conformance.RunPaired(b, int64(size.n), e.smbclientPut(), conformance.PairedSide{
				Name: "lectern",
				Run: func(b *testing.B, _ int) {
					st, err := eng.StoreContent(ctx, conferencetest.BenchConference, conference.SlideContent, "bin", bytes.NewReader(data), int64(len(data)))
					if err != nil {
						b.Fatal(err)
					}
					name = st.Name
				},
				Cleanup: func(b *testing.B, _ int) {
					if err := eng.DeleteContent(ctx, conferencetest.BenchConference, name); err != nil {
						b.Fatal(err)
					}
				},
			})
		})
		b.Run("get/"+size.name, func(b *testing.B) {
			e := newBenchEnv(b, data)
			ctx := context.Background()
			if _, err := e.bucket.PutBytes(ctx, "bench/obj", data, storage.Condition{}); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 1<<20)
			conformance.RunPaired(b, int64(size.n), conformance.PairedSide{
				Name: "smbclient",
				Run:  func(b *testing.B, _ int) { e.smbclient(b, "get obj /dev/null") },
			}, conformance.PairedSide{
				Name: "lectern",
				Run: func(b *testing.B, _ int) {
					rc, _, err := e.bucket.Get(ctx, "bench/obj", 0, -1)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf)
					rc.Close()
					if err != nil || n != int64(len(data)) {
						b.Fatalf("read %d bytes: %v", n, err)
					}
				},
			})
		})
	}
}

// BenchmarkNaive is the reference the pipelining is measured against: one go-smb2
// request in flight at a time (File.ReadFrom / File.WriteTo copy loops), on a
// connection of the backend's pool, with no temporary file, lock or rename.
func BenchmarkNaive(b *testing.B) {
	data := benchData(256 << 20)
	srv := samba.Start(b)
	d := openOn(b, srv, srv.NewFolder(b), "")
	ctx := context.Background()
	c, err := d.pool.get(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer d.pool.put(c, nil)
	sh := c.on(ctx)
	if err := d.mkdirAll(sh, "naive", d.path("naive")); err != nil {
		b.Fatal(err)
	}
	p := d.path("naive/obj")
	if err := sh.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("put/256MiB", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, err := sh.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("get/256MiB", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, err := sh.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
