package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// faultProxy is a TLS reverse proxy to lecternd that answers the next requests of a
// method with 503 (storage unavailable) instead of forwarding them, and counts the
// requests of each method that reached it.
type faultProxy struct {
	url, caFile string
	mu          sync.Mutex
	fail        map[string]int // method -> 503s still to answer
	seen        map[string]int // method -> requests received
}

func newFaultProxy(t *testing.T, s *server) *faultProxy {
	t.Helper()
	fp := &faultProxy{fail: map[string]int{}, seen: map[string]int{}}
	fp.url, fp.caFile = frontProxy(t, s, func(w http.ResponseWriter, r *http.Request) bool {
		fp.mu.Lock()
		fp.seen[r.Method]++
		inject := fp.fail[r.Method] > 0
		if inject {
			fp.fail[r.Method]--
		}
		fp.mu.Unlock()
		if !inject {
			return false
		}
		// lecternd's own answer when its storage is unreachable.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"code":"storage_unavailable","message":"storage is unavailable, retry later","status":503}}`+"\n")
		return true
	})
	return fp
}

// inject makes the next n requests of method answer 503, and resets the counts.
func (fp *faultProxy) inject(method string, n int) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.fail = map[string]int{method: n}
	fp.seen = map[string]int{}
}

func (fp *faultProxy) count(method string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.seen[method]
}

// TestUploadRetriesCreationAndResumeHead: the creation POST and the first HEAD of a
// resumed upload are retried after server errors like every PATCH (they failed the
// command at once), within --retries.
func TestUploadRetriesCreationAndResumeHead(t *testing.T) {
	target := newUploadServer(t)
	admin := target.adminEnv(t)
	cli(t, admin, "conference", "create", "--id", "talks", "--organizer", "sip:alice@example.com").must(t)
	tok := strings.TrimSpace(cli(t, admin, "token", "--role", "presenter", "--conference", "talks", "--subject", "sip:alice@example.com").must(t).stdout)
	fp := newFaultProxy(t, target)
	env := map[string]string{"LECTERN_SERVER": fp.url, "LECTERN_TOKEN": tok, "LECTERN_CA_FILE": fp.caFile,
		"LECTERN_STATE_DIR": filepath.Join(t.TempDir(), "state")}
	dir := t.TempDir()
	data := randomBytes(t, 300_000)

	tests := []struct {
		name    string
		method  string // whose requests fail with 503
		fails   int
		retries string
		resume  bool // the run resumes an upload an earlier run left
		ok      bool
		seen    int // requests of method that reached the proxy
	}{
		{"creation POST, two 503s", http.MethodPost, 2, "10", false, true, 3},
		{"creation POST, more 503s than --retries", http.MethodPost, 5, "2", false, false, 3},
		{"first HEAD of a resumed upload, two 503s", http.MethodHead, 2, "10", true, true, 3},
		{"first HEAD of a resumed upload, more 503s than --retries", http.MethodHead, 5, "1", true, false, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, "deck"+string(rune('a'+i))+".pdf")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.resume {
				// An earlier run created the upload, then gave up on its PATCH.
				fp.inject(http.MethodPatch, 1)
				if r := cli(t, env, "upload", "--retries", "0", "--conference", "talks", file); r.code != exitError {
					t.Fatalf("the earlier run: exit %d %s", r.code, r.stderr)
				}
			}
			fp.inject(tt.method, tt.fails)
			r := cli(t, env, "upload", "--retries", tt.retries, "--conference", "talks", file)
			if got := fp.count(tt.method); got != tt.seen {
				t.Errorf("%d %s requests, want %d\n%s", got, tt.method, tt.seen, r.stderr)
			}
			if !tt.ok {
				if r.code != exitError || !strings.Contains(r.stderr, "lectern: ") || !strings.Contains(r.stderr, "HTTP 503") ||
					strings.Count(r.stderr, "request failed") != tt.seen-1 {
					t.Fatalf("exit %d, want the 503 after %d retries:\n%s", r.code, tt.seen-1, r.stderr)
				}
				return
			}
			r.must(t)
			if n := strings.Count(r.stderr, "request failed"); n != tt.fails {
				t.Errorf("%d retries reported, want %d:\n%s", n, tt.fails, r.stderr)
			}
			if tt.resume && !strings.Contains(r.stderr, "resuming upload at") {
				t.Fatalf("the run did not resume the earlier upload:\n%s", r.stderr)
			}
			out := filepath.Join(t.TempDir(), "back")
			cli(t, env, "download", "--key", field(t, r.stdout, "key"), "--out", out, field(t, r.stdout, "url")).must(t)
			if fileSHA(t, out) != sha(data) {
				t.Fatal("downloaded content differs")
			}
		})
	}
}
