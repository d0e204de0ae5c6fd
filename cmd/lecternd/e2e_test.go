package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/s3"
	"github.com/lectern/lectern/conformance/servers"
	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/conformance/servers/samba"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/httpapi"
)

// e2e is a real lecternd process with a conference and a presenter token.
type e2e struct {
	t         *testing.T
	work      string
	dataDir   string
	base      string
	client    *http.Client
	admin     string
	presenter string
	conf      string
}

func newE2E(t *testing.T, extra ...string) (*e2e, *proc) {
	t.Helper()
	work := t.TempDir()
	p := start(t, work, extra...)
	e := &e2e{t: t, work: work, dataDir: filepath.Join(work, "lectern-data"), base: "https://" + p.addr, conf: "e2e"}
	// Every answer the tests get is checked against docs/openapi.yaml (openapicheck_test.go).
	e.client = client(t, e.dataDir)
	e.client.Transport = newSpecChecker(t).transport(e.client.Transport)
	tok, err := os.ReadFile(filepath.Join(e.dataDir, "config", "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	e.admin = strings.TrimSpace(string(tok))
	e.call("POST", "/v1/conferences", e.admin, `{"id":"e2e","organizer":"sip:alice@example.com"}`, 201, nil)
	var minted struct{ Token string }
	e.call("POST", "/v1/tokens", e.admin, `{"role":"presenter","conference":"e2e","subject":"alice"}`, 201, &minted)
	e.presenter = minted.Token
	return e, p
}

func (e *e2e) call(method, path, token, body string, want int, out any, headers ...string) http.Header {
	e.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	resp, data := e.send(method, path, token, ct, []byte(body), headers...)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.Header
}

// send makes one request (token and contentType may be empty) and returns the
// response with its body read.
func (e *e2e) send(method, path, token, contentType string, body []byte, headers ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp, data
}

// randomFile writes n random bytes and returns the path and their SHA-256.
func randomFile(t *testing.T, dir string, n int) (string, [32]byte) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	path := filepath.Join(dir, fmt.Sprintf("upload-%d.bin", n))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, sha256.Sum256(data)
}

// downloadInRanges fetches the ciphertext at url in two Range requests, decrypts it
// with key and returns the plaintext's SHA-256.
func (e *e2e) downloadInRanges(url, keyHex string) [32]byte {
	e.t.Helper()
	key, err := encryption.ParseKey(keyHex)
	if err != nil {
		e.t.Fatal(err)
	}
	var cipher bytes.Buffer
	var total int64 = -1
	for _, rng := range []string{"bytes=0-999999", "bytes=1000000-"} {
		req, _ := http.NewRequest("GET", e.base+url, nil)
		req.Header.Set("Authorization", "Bearer "+e.presenter)
		req.Header.Set("Range", rng)
		resp, err := e.client.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		if resp.StatusCode != http.StatusPartialContent {
			e.t.Fatalf("GET %s %s: %d", url, rng, resp.StatusCode)
		}
		if cr := resp.Header.Get("Content-Range"); total < 0 {
			total, _ = strconv.ParseInt(cr[strings.LastIndex(cr, "/")+1:], 10, 64)
		}
		io.Copy(&cipher, resp.Body)
		resp.Body.Close()
	}
	if int64(cipher.Len()) != total {
		e.t.Fatalf("ranges gave %d bytes of %d", cipher.Len(), total)
	}
	r, err := encryption.NewReader(&cipher, key)
	if err != nil {
		e.t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		e.t.Fatalf("decrypting the download: %v", err)
	}
	return [32]byte(h.Sum(nil))
}

// events subscribes to the conference's event stream as the presenter.
func (e *e2e) events(ctx context.Context) <-chan map[string]any {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/v1/conferences/"+e.conf+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.presenter)
	resp, err := e.client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("events: %v %v", resp, err)
	}
	out := make(chan map[string]any, 16)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev map[string]any
				if json.Unmarshal([]byte(data), &ev) == nil {
					out <- ev
				}
			}
		}
	}()
	return out
}

// tusJS returns the command that runs tus-js-client, or ends the test when node or
// the package is missing (failing where it is required: CI).
func tusJS(t *testing.T) (node, script string) {
	t.Helper()
	dir, _ := filepath.Abs("testdata/tusjs")
	node, err := exec.LookPath("node")
	how := "install Node.js and run `npm ci --prefix cmd/lecternd/testdata/tusjs` (deploy/test.sh does)"
	if err != nil {
		servers.Unavailable(t, "node", "node is not on PATH", how)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tus-js-client")); err != nil {
		servers.Unavailable(t, "node", "tus-js-client is not installed", how)
	}
	return node, filepath.Join(dir, "upload.mjs")
}

func TestEndToEndTusJSClient(t *testing.T) {
	node, script := tusJS(t)
	e, _ := newE2E(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs := e.events(ctx)

	const size = 50_000_000
	path, sum := randomFile(t, e.work, size)
	// tus-js-client talks to lecternd through a proxy that checks every answer
	// against docs/openapi.yaml, as e.client does.
	proxy := checkingProxy(t, e.base[len("https://"):], e.dataDir)
	cmd := exec.Command(node, script, proxy+"/v1/conferences/e2e/uploads", e.presenter, path, strconv.Itoa(20_000_000))
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+filepath.Join(e.dataDir, "config", certFile))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("tus-js-client: %v\n%s", err, stderr)
	}
	var res struct {
		URL, Key string
		Resumed  bool
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("tus-js-client printed %q: %v", out, err)
	}
	if !res.Resumed || res.URL == "" || len(res.Key) != 64 {
		t.Fatalf("upload result %+v", res)
	}
	t.Logf("tus-js-client uploaded %d bytes with an abort and resume: %s", size, res.URL)

	// The presenter's event stream announced the content with its URL and key.
	deadline := time.After(30 * time.Second)
	for announced := false; !announced; {
		select {
		case ev := <-evs:
			data, _ := ev["data"].(map[string]any)
			announced = ev["kind"] == "content.ready" && data["url"] == res.URL && data["key"] == res.Key
		case <-deadline:
			t.Fatal("no content.ready event for the upload")
		}
	}
	if got := e.downloadInRanges(res.URL, res.Key); got != sum {
		t.Fatal("the downloaded, decrypted file differs from the uploaded one")
	}
}

// TestEndToEndCLIUpload uploads with the CLI in one PATCH (its default: the part is
// renamed into the content file) and in 3 MB PATCHes (the parts are joined), then
// downloads with ranges and compares SHA-256. The CLI talks to lecternd through
// checkingProxy, so that its answers are checked against docs/openapi.yaml too.
func TestEndToEndCLIUpload(t *testing.T) {
	e, _ := newE2E(t)
	lectern := lecternCLI(t)
	server := checkingProxy(t, e.base[len("https://"):], e.dataDir)
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"one PATCH", nil},
		{"3 MB PATCHes", []string{"--chunk-size", "3000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, sum := randomFile(t, e.work, 12_000_000)
			args := append([]string{"--server", server, "--ca-file", filepath.Join(e.dataDir, "config", certFile),
				"upload", "--conference", "e2e", "-o", "json"}, tc.flags...)
			cmd := exec.Command(lectern, append(args, path)...)
			cmd.Env = append(os.Environ(), "LECTERN_TOKEN="+e.presenter, "LECTERN_STATE_DIR="+t.TempDir())
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("lectern upload: %v\n%s", err, out)
			}
			var res struct{ URL, Key string }
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("lectern upload printed %q: %v", out, err)
			}
			url := res.URL[strings.Index(res.URL, "/v1/"):]
			if got := e.downloadInRanges(url, res.Key); got != sum {
				t.Fatal("the downloaded, decrypted file differs from the uploaded one")
			}
			// Whichever way it was stored, no part is left in the store.
			err = filepath.WalkDir(filepath.Join(e.dataDir, "store", "uploads"), func(p string, d os.DirEntry, err error) error {
				if err == nil && strings.HasPrefix(d.Name(), "part-") {
					t.Errorf("a part is left after the upload: %s", p)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// testBackend is a storage an end-to-end test runs lecternd on.
type testBackend struct {
	args []string // lecternd's flags for it
	// server is the storage server, which the test may stop (as a crash would) and
	// start again; nil for the local disk.
	server interface {
		Restartable() bool
		Stop(testing.TB)
		Start(testing.TB)
	}
	// files, when set, returns the local folder that holds the store's objects as
	// files, for lecternd run in the work folder work (disk, and a local Samba).
	files func(work string) string
	// leftovers, when set, lists what unfinished writes left in the storage that no
	// key names (S3: incomplete multipart uploads), and removeLeftovers removes them
	// through the backend's storage.LeftoverRemover, as lecternd's sweep does.
	leftovers       func(t *testing.T) []string
	removeLeftovers func(t *testing.T) int
}

// testBackends are the storages the end-to-end tests run lecternd on: its default
// disk store, a fresh bucket on the test MinIO and a fresh folder on the test Samba
// share (skipped, or failing in CI, when those servers cannot start).
func testBackends() map[string]func(t *testing.T) testBackend {
	return map[string]func(t *testing.T) testBackend{
		"disk": func(t *testing.T) testBackend {
			return testBackend{files: func(work string) string { return filepath.Join(work, "lectern-data", "store") }}
		},
		"s3": func(t *testing.T) testBackend {
			srv := minio.Start(t)
			bucket := srv.NewBucket(t)
			t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
			backend := "s3://" + bucket + "/lectern?path_style=true&region=" +
				url.QueryEscape(srv.Region) + "&endpoint=" + url.QueryEscape(srv.Endpoint)
			return testBackend{server: srv, args: []string{"--backend", backend},
				leftovers: func(t *testing.T) []string {
					var names []string
					for u := range srv.Client(t).ListIncompleteUploads(context.Background(), bucket, "", true) {
						if u.Err != nil {
							t.Fatalf("listing incomplete uploads: %v", u.Err)
						}
						names = append(names, u.Key)
					}
					return names
				},
				removeLeftovers: func(t *testing.T) int {
					u, err := url.Parse(backend)
					if err != nil {
						t.Fatal(err)
					}
					d, err := s3.OpenURL(context.Background(), u)
					if err != nil {
						t.Fatal(err)
					}
					defer d.Close()
					n, err := d.RemoveLeftovers(context.Background(), time.Now().Add(time.Minute))
					if err != nil {
						t.Fatalf("RemoveLeftovers: %v", err)
					}
					return n
				}}
		},
		"smb": func(t *testing.T) testBackend {
			srv := samba.Start(t)
			folder := srv.NewFolder(t)
			u, err := url.Parse(srv.URL(folder))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("password_file", srv.PasswordFile(t))
			u.RawQuery = q.Encode()
			b := testBackend{server: srv, args: []string{"--backend", u.String()}}
			if srv.Root != "" {
				b.files = func(string) string { return filepath.Join(srv.Root, folder) }
			}
			return b
		},
	}
}

// TestEndToEndResumeAcrossRestart uploads part of a file, stops lecternd (SIGTERM),
// starts it again on the same port and storage, and finishes the upload; on every
// backend.
func TestEndToEndResumeAcrossRestart(t *testing.T) {
	for name, backend := range testBackends() {
		t.Run(name, func(t *testing.T) { resumeAcrossRestart(t, backend(t).args) })
	}
}

func resumeAcrossRestart(t *testing.T, backend []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"--listen", addr}, backend...)
	e, p := newE2E(t, args...)
	// The first PATCH is over S3's least part size, so that on S3 the two parts are
	// composed inside the storage; on disk and SMB the upload grows in place.
	const size, first = 13_000_000, 6_000_000
	path, sum := randomFile(t, e.work, size)
	data, _ := os.ReadFile(path)

	loc := e.createUpload("restart.bin", "slide", size)
	e.patch(loc, 0, data[:first], 204)
	if code := p.stop(t); code != 0 {
		t.Fatalf("lecternd exited with %d on SIGTERM", code)
	}
	start(t, e.work, args...)

	h := e.call("HEAD", loc, e.presenter, "", 200, nil, "Tus-Resumable", "1.0.0")
	off, _ := strconv.Atoi(h.Get("Upload-Offset"))
	if off == 0 || off > first {
		t.Fatalf("offset after restart %d, want the bytes kept before it (0 < offset <= %d)", off, first)
	}
	done := e.patch(loc, off, data[off:], 204)
	url, key := done.Get("Lectern-Content-Url"), done.Get("Lectern-Content-Key")
	if url == "" || key == "" {
		t.Fatalf("the completing PATCH did not name the content: %v", done)
	}
	if got := e.downloadInRanges(url, key); got != sum {
		t.Fatal("the downloaded, decrypted file differs from the uploaded one")
	}
}

// TestEndToEndUploadsRefuseTokensOlderThanTheirConference: a token whose scope was
// granted before its conference was created (a token of an earlier conference with
// the same id, deleted since) opens nothing of the conference, the upload route
// included. The token is minted with lecternd's own secret and a clock an hour back.
func TestEndToEndUploadsRefuseTokensOlderThanTheirConference(t *testing.T) {
	e, _ := newE2E(t)
	hexSecret, err := os.ReadFile(filepath.Join(e.dataDir, "config", tokenSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(hexSecret)))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.NewAuthority(secret)
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := auth.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }).
		Mint(httpapi.TokenSpec{Role: httpapi.RolePresenter, Conference: e.conf, TTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	create := []string{"Tus-Resumable", "1.0.0", "Upload-Length", "10"}
	e.call("POST", "/v1/conferences/e2e/uploads", old, "", 403, nil, create...)
	e.call("GET", "/v1/conferences/e2e/slidesets", old, "", 403, nil)
	e.call("POST", "/v1/conferences/e2e/uploads", e.presenter, "", 201, nil, create...)
}
