package docker

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers"
)

func TestParseLdd(t *testing.T) {
	tests := []struct {
		name, out string
		want      []string
	}{
		{"static", "\tnot a dynamic executable\n", nil},
		{"glibc", "\tlinux-vdso.so.1 (0x00007ffd)\n" +
			"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a)\n" +
			"\t/lib64/ld-linux-x86-64.so.2 (0x00007f0b)\n",
			[]string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}},
		{"duplicate", "\tlibz.so.1 => /lib/libz.so.1 (0x1)\n\tlibz.so.1 => /lib/libz.so.1 (0x1)\n", []string{"/lib/libz.so.1"}},
		{"not found", "\tlibfoo.so => not found\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseLdd(tt.out); !slices.Equal(got, tt.want) {
				t.Fatalf("parseLdd = %q, want %q", got, tt.want)
			}
		})
	}
}

// echoServer keeps what is PUT to it in /data/value and serves it back, so that a
// test can tell a restarted container (same file system) from a new one.
const echoServer = `package main

import (
	"io"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			b, _ := io.ReadAll(r.Body)
			if err := os.WriteFile("/data/value", b, 0o600); err != nil {
				http.Error(w, err.Error(), 500)
			}
			return
		}
		b, _ := os.ReadFile("/data/value")
		w.Write(b)
	})
	if err := http.ListenAndServe(os.Args[1], nil); err != nil {
		os.Stderr.WriteString(err.Error())
		os.Exit(1)
	}
}
`

// connect returns a daemon, or skips (fails where docker is required).
func connect(t *testing.T) *Daemon {
	t.Helper()
	d, err := Connect(context.Background())
	if err != nil {
		servers.Unavailable(t, "docker", err.Error(), HowToEnable)
	}
	return d
}

func TestContainerLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and an image")
	}
	d := connect(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	bin := filepath.Join(dir, "echo")
	if err := os.WriteFile(src, []byte(echoServer), 0o600); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	img := Image{Repository: "lectern-test/echo", Files: map[string]string{"/bin/echo": bin}, Dirs: []string{"/data", "/tmp"}, Owner: 65532}
	name, err := d.EnsureImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	// The binary differs with every build (its build id), so is the image: remove it.
	t.Cleanup(func() {
		if err := d.RemoveImage(context.Background(), string(name)); err != nil {
			t.Errorf("RemoveImage: %v", err)
		}
	})
	if again, err := d.EnsureImage(ctx, img); err != nil || again != name {
		t.Fatalf("EnsureImage again = %q, %v; want the same image %q", again, err, name)
	}

	addr := freeAddr(t)
	c, err := d.Run(ctx, RunOptions{Image: string(name), Cmd: []string{"/bin/echo", addr}, User: "65532"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Remove(context.Background()); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	waitBody(t, c, addr, "")
	put(t, addr, "kept across a restart")
	if err := c.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if running, err := c.Running(ctx); err != nil || running {
		t.Fatalf("after Kill: running %v, %v", running, err)
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Fatal("the killed container still answers")
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitBody(t, c, addr, "kept across a restart")
}

func TestRunRefusesMissingImage(t *testing.T) {
	d := connect(t)
	_, err := d.Run(context.Background(), RunOptions{Image: "lectern-test/never-built:0", Cmd: []string{"/x"}})
	if err == nil || !strings.Contains(err.Error(), "never pulled") {
		t.Fatalf("Run of a missing image = %v, want a not-built error", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func put(t *testing.T, addr, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s", resp.Status)
	}
}

// waitBody polls until the server in c answers, then checks its body. Polling is how
// one waits for a process to listen; no assertion depends on how long it takes.
func waitBody(t *testing.T, c *Container, addr, want string) {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != want {
				t.Fatalf("body %q, want %q", b, want)
			}
			return
		}
		if running, _ := c.Running(ctx); !running || i == 600 {
			t.Fatalf("container does not answer on %s (%v); logs:\n%s", addr, err, c.Logs(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIsDynamicELF(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	text := filepath.Join(dir, "text")
	if err := os.WriteFile(short, []byte("root:x:0:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(text, []byte(strings.Repeat("not an ELF file\n", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{short, text} {
		if dyn, err := isDynamicELF(name); err != nil || dyn {
			t.Errorf("isDynamicELF(%s) = %v, %v; want false, nil", filepath.Base(name), dyn, err)
		}
	}
	// The test binary is an ELF file; whether it is dynamic depends on cgo, so only
	// the absence of an error is checked.
	if _, err := isDynamicELF(self); err != nil {
		t.Errorf("isDynamicELF(test binary): %v", err)
	}
	if _, err := isDynamicELF(filepath.Join(dir, "missing")); err == nil {
		t.Error("isDynamicELF of a missing file: no error")
	}
}
