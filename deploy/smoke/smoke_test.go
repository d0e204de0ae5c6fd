package smoke

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/conformance/servers"
	"github.com/lectern/lectern/conformance/servers/docker"
)

func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the lecternd image")
	}
	ctx := context.Background()
	d, err := docker.Connect(ctx)
	if err != nil {
		servers.Unavailable(t, "docker", err.Error(), docker.HowToEnable)
	}
	// A host folder as /data, owned by the image's user, so the test can read the
	// admin token the first start writes. Made before the (slow) image build, so that
	// a run that cannot make it ends at once.
	data := t.TempDir()
	if err := os.Chown(data, 65532, 65532); err != nil {
		servers.Unavailable(t, "docker", "cannot give the data folder to uid 65532: "+err.Error(),
			"run the test as root (deploy/test.sh does, as CI)")
	}
	image := "lectern-test/lecternd:smoke"
	build := exec.Command("bash", filepath.Join(repoRoot(t), "deploy", "build-image.sh"), image)
	build.Env = append(os.Environ(), "DOCKER_HOST="+d.Endpoint())
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-image.sh: %v\n%s", err, out)
	}
	// Registered before the container's removal, so it runs after it (cleanups run
	// last-in first-out): every run builds a new image, none is left behind.
	t.Cleanup(func() {
		if err := d.RemoveImage(context.Background(), image); err != nil {
			t.Errorf("RemoveImage: %v", err)
		}
	})

	addr := freeAddr(t)
	c, err := d.Run(ctx, docker.RunOptions{
		Image: image,
		Env:   []string{"LECTERN_LISTEN=" + addr},
		Binds: []string{data + ":/data"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	base := "https://" + addr
	waitFor(t, c, "/readyz", func() bool { return get(base+"/readyz", "") == http.StatusOK })
	waitFor(t, c, "a healthy HEALTHCHECK", func() bool {
		h, _ := c.Health(ctx)
		return h == "healthy"
	})

	token := readToken(t, filepath.Join(data, "config", "admin-token"))
	api := client{t: t, base: base, token: token}
	api.json("POST", "/v1/conferences", map[string]any{"id": "smoke-test", "organizer": "sip:ops@example.org"}, http.StatusCreated, nil)
	var set struct{ ID, Name string }
	api.json("POST", "/v1/conferences/smoke-test/slidesets", map[string]any{"name": "Keynote"}, http.StatusCreated, &set)
	var back struct{ ID, Name string }
	api.json("GET", "/v1/conferences/smoke-test/slidesets/"+set.ID, nil, http.StatusOK, &back)
	if back.ID != set.ID || back.Name != "Keynote" {
		t.Fatalf("slide set read back as %+v, want id %s name Keynote", back, set.ID)
	}

	t.Run("upload and download", func(t *testing.T) {
		api := client{t: t, base: base, token: token}
		const uploads = "/v1/conferences/smoke-test/uploads"
		// tus discovery needs no token: a clear failure if the image serves no uploads.
		if code := options(base + uploads); code != http.StatusOK && code != http.StatusNoContent {
			t.Fatalf("OPTIONS %s answered %d: the image does not serve tus uploads", uploads, code)
		}
		content := bytes.Repeat([]byte("Lectern smoke test content. "), 5000)
		url, key := api.upload(uploads, "deck.pdf", content)
		cipher := api.raw("GET", url, nil, nil, http.StatusOK)
		if len(cipher) <= len(content) || bytes.Contains(cipher, content[:64]) {
			t.Fatalf("the content URL gave %d bytes that are not the ciphertext of %d bytes", len(cipher), len(content))
		}
		name := url[strings.LastIndex(url, "/")+1:]
		plain := api.raw("GET", "/v1/conferences/smoke-test/content/"+name+"/plain", nil, map[string]string{"Lectern-Key": key}, http.StatusOK)
		if !bytes.Equal(plain, content) {
			t.Fatalf("downloaded %d bytes that differ from the %d uploaded", len(plain), len(content))
		}
	})
}

func options(url string) int {
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

type client struct {
	t           *testing.T
	base, token string
}

var httpClient = &http.Client{
	Timeout: time.Minute,
	// The server's certificate is the self-signed one of its first start; the test
	// only ever dials 127.0.0.1.
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
}

func (c client) raw(method, path string, body []byte, headers map[string]string, want int) []byte {
	c.t.Helper()
	b, _ := c.do(method, path, body, headers, want)
	return b
}

func (c client) do(method, path string, body []byte, headers map[string]string, want int) ([]byte, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, b)
	}
	return b, resp.Header
}

func (c client) json(method, path string, in any, want int, out any) {
	c.t.Helper()
	var body []byte
	headers := map[string]string{}
	if in != nil {
		body, _ = json.Marshal(in)
		headers["Content-Type"] = "application/json"
	}
	b := c.raw(method, path, body, headers, want)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// upload sends content in one tus creation-with-upload request and returns the
// content URL and key of the completion answer.
func (c client) upload(path, filename string, content []byte) (url, key string) {
	c.t.Helper()
	_, h := c.do("POST", path, content, map[string]string{
		"Tus-Resumable":   "1.0.0",
		"Upload-Length":   strconv.Itoa(len(content)),
		"Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte(filename)),
		"Content-Type":    "application/offset+octet-stream",
	}, http.StatusCreated)
	url, key = h.Get("Lectern-Content-Url"), h.Get("Lectern-Content-Key")
	if url == "" || len(key) != 64 {
		c.t.Fatalf("upload completion without a content URL and key: %v", h)
	}
	return url, key
}

func get(url, token string) int {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls until ok, failing with the container's logs if it stops running or
// the wait exceeds two minutes (the HEALTHCHECK runs every 10 s). Nothing is asserted
// about how long it takes.
func waitFor(t *testing.T, c *docker.Container, what string, ok func() bool) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for !ok() {
		running, err := c.Running(ctx)
		if err != nil || !running || time.Now().After(deadline) {
			t.Fatalf("waiting for %s: running %v (%v); logs:\n%s", what, running, err, c.Logs(ctx))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return strings.TrimSpace(string(b))
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

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
