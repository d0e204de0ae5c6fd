package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
)

var (
	testSecret    = bytes.Repeat([]byte{9}, 32)
	testKEK       = [32]byte{1, 2, 3}
	testUploadKey = [UploadKeySize]byte{4, 5, 6}
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// recorder wraps a real driver and records the keys of successful puts and moves and
// the bytes written, so tests can tell which objects an upload wrote (including ones
// it later deleted) and how often. failPut, when set, may fail a put or an append
// before it runs.
type recorder struct {
	storage.Driver
	mu       sync.Mutex
	puts     []string
	moves    []string // "src -> dst"
	putBytes int64    // by puts and appends
	appends  int
	composes int
	failPut  func(key string) error
	gets     map[string]int // reads by key
	// writes with a context that leads back to the HTTP request (see ownContext),
	// and all writes checked for it
	requestContexts, checked atomic.Int64
}

// serverContextMarker is a value in every test server's base context: a storage call
// that finds it has been given a context that leads back to the request's.
type serverContextMarker struct{}

func (r *recorder) checkContext(ctx context.Context) {
	r.checked.Add(1)
	if ctx.Value(serverContextMarker{}) != nil {
		r.requestContexts.Add(1)
	}
}

// injected is failPut's answer for key, or nil when none is set.
func (r *recorder) injected(key string) error {
	r.mu.Lock()
	fail := r.failPut
	r.mu.Unlock()
	if fail == nil {
		return nil
	}
	return fail(key)
}

func (r *recorder) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	r.mu.Lock()
	if r.gets == nil {
		r.gets = map[string]int{}
	}
	r.gets[key]++
	r.mu.Unlock()
	return r.Driver.Get(ctx, key, offset, length)
}

// readsOf returns how often key was read.
func (r *recorder) readsOf(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets[key]
}

func (r *recorder) Put(ctx context.Context, key string, rd io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	r.checkContext(ctx)
	if err := r.injected(key); err != nil {
		return storage.Attributes{}, err
	}
	a, err := r.Driver.Put(ctx, key, rd, o)
	if err == nil {
		r.mu.Lock()
		r.puts = append(r.puts, key)
		r.putBytes += a.Size
		r.mu.Unlock()
	}
	return a, err
}

// Move forwards storage.Mover (the disk driver has it), recording it.
func (r *recorder) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	m, ok := r.Driver.(storage.Mover)
	if !ok {
		return storage.Attributes{}, storage.NewError(storage.ErrUnsupported, "move", src, nil)
	}
	a, err := m.Move(ctx, src, dst)
	if err == nil {
		r.mu.Lock()
		r.moves = append(r.moves, src+" -> "+dst)
		r.mu.Unlock()
	}
	return a, err
}

// Append forwards storage.Appender (the disk driver has it), counting the bytes it
// wrote with the puts'.
func (r *recorder) Append(ctx context.Context, key string, offset int64, rd io.Reader, ifVersion string) (storage.Attributes, error) {
	r.checkContext(ctx)
	if err := r.injected(key); err != nil {
		return storage.Attributes{}, err
	}
	a, ok := r.Driver.(storage.Appender)
	if !ok {
		return storage.Attributes{}, storage.NewError(storage.ErrUnsupported, "append", key, nil)
	}
	attrs, err := a.Append(ctx, key, offset, rd, ifVersion)
	if err == nil {
		r.mu.Lock()
		r.appends++
		r.putBytes += attrs.Size - offset
		r.mu.Unlock()
	}
	return attrs, err
}

func (r *recorder) written() (bytes int64, moves []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.putBytes, append([]string(nil), r.moves...)
}

// noMover hides the recorder's Move and Append, as a backend without either (S3).
type noMover struct{ storage.Driver }

func (r *recorder) putKeys(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, k := range r.puts {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// backend is one storage shared by the instances of a test.
type backend struct {
	rec    *recorder
	bucket *storage.Bucket
	clock  *clock
	auth   *httpapi.Authority
	log    *slog.Logger // when set, every instance logs here (engine, stream, API)
}

func newBackend(t testing.TB) *backend {
	t.Helper()
	d, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	auth, err := httpapi.NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Driver: d}
	return &backend{rec: rec, bucket: storage.NewBucket(rec), clock: newClock(), auth: auth}
}

// forEachMode runs a test in both ways an upload can be stored: growing in place in
// part 0 (newBackend: the disk driver appends), and as one part object per request
// (the same disk driver with Append hidden, as on S3).
func forEachMode(t *testing.T, test func(*testing.T, func(testing.TB) *backend)) {
	t.Run("append", func(t *testing.T) { test(t, newBackend) })
	t.Run("parts", func(t *testing.T) { test(t, newBackendWithoutAppend) })
}

// newBackendWithoutAppend is newBackend over a bucket that cannot append (but moves).
func newBackendWithoutAppend(t testing.TB) *backend {
	t.Helper()
	be := newBackend(t)
	be.bucket = storage.NewBucket(noAppender{be.rec})
	return be
}

// noAppender hides the recorder's Append, forwarding Move.
type noAppender struct{ *recorder }

func (n noAppender) Append() {} // shadows recorder.Append: not a storage.Appender

// newBackendComposing is a backend like S3's: it cannot rename or append but
// composes objects inside the storage (the memory driver's Compose, counted).
func newBackendComposing(t testing.TB) *backend {
	t.Helper()
	be := newBackend(t)
	mem := memory.New(memory.NewStore())
	be.rec.Driver = mem
	be.bucket = storage.NewBucket(composer{Driver: noMover{be.rec}, mem: mem, rec: be.rec})
	return be
}

// composer adds the memory driver's Compose to a recorder that hides everything else.
type composer struct {
	storage.Driver
	mem *memory.Driver
	rec *recorder
}

func (c composer) Compose(ctx context.Context, dst string, srcs []string) (storage.Attributes, error) {
	a, err := c.mem.Compose(ctx, dst, srcs)
	if err == nil {
		c.rec.mu.Lock()
		c.rec.composes++
		c.rec.mu.Unlock()
	}
	return a, err
}

func (c composer) ComposeLimits() (int64, int) { return c.mem.ComposeLimits() }

// newBackendWithoutMove is newBackend over a bucket that cannot rename objects.
func newBackendWithoutMove(t testing.TB) *backend {
	t.Helper()
	be := newBackend(t)
	be.bucket = storage.NewBucket(noMover{be.rec})
	return be
}

// instance is one lecternd-like server: an engine, the upload endpoint and the API on
// a real TLS listener on 127.0.0.1.
type instance struct {
	t      testing.TB
	be     *backend
	engine *conference.Engine
	h      *Handler
	srv    *httptest.Server
	client *http.Client
}

type instOption func(*Config, *conference.Config)

// listenAt makes the next instance listen where a stopped one did (a restart).
var listenAt = map[testing.TB]string{}

func withLimits(l conference.Limits) instOption {
	return func(_ *Config, e *conference.Config) { e.Limits = l }
}

func withStream(f func(*Config)) instOption {
	return func(c *Config, _ *conference.Config) { f(c) }
}

func (be *backend) start(t testing.TB, opts ...instOption) *instance {
	t.Helper()
	log := discardLogger()
	if be.log != nil {
		log = be.log
	} else if os.Getenv("STREAM_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ecfg := conference.Config{Bucket: be.bucket, KEK: testKEK, Now: be.clock.Now, Logger: log}
	scfg := Config{Bucket: be.bucket, UploadKey: testUploadKey, Now: be.clock.Now, Logger: log, LockTTL: 2 * time.Second}
	for _, o := range opts {
		o(&scfg, &ecfg)
	}
	eng, err := conference.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	scfg.Engine = eng
	h, err := New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Content: be.bucket, Auth: be.auth, Logger: log, Routes: []httpapi.RouteRegistrar{h.Routes()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.Config.BaseContext = func(net.Listener) context.Context {
		return context.WithValue(context.Background(), serverContextMarker{}, true)
	}
	if addr := listenAt[t]; addr != "" {
		delete(listenAt, t)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	srv.StartTLS()
	inst := &instance{t: t, be: be, engine: eng, h: h, srv: srv, client: srv.Client()}
	t.Cleanup(func() {
		srv.Close()
		_ = eng.Close(context.Background())
	})
	return inst
}

// restartAt arranges for the next instance of this test to listen on in's address.
func (in *instance) restartAt() {
	listenAt[in.t] = in.srv.Listener.Addr().String()
}

// stop simulates the process going away (the storage stays).
func (in *instance) stop() {
	in.srv.CloseClientConnections()
	in.srv.Close()
	_ = in.engine.Close(context.Background())
}

func (in *instance) conference(id string) string {
	in.t.Helper()
	if _, err := in.engine.CreateConference(context.Background(), conference.CreateParams{ID: id, Organizer: "sip:org@example.com"}); err != nil {
		in.t.Fatal(err)
	}
	return id
}

func (in *instance) token(role httpapi.Role, conf, subject string) string {
	in.t.Helper()
	tok, _, err := in.be.auth.Mint(httpapi.TokenSpec{Role: role, Conference: conf, Subject: subject, TTL: time.Hour})
	if err != nil {
		in.t.Fatal(err)
	}
	return tok
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends a tus request (Tus-Resumable is added unless hdr sets it to "-").
func (in *instance) do(method, path, token string, hdr map[string]string, body []byte) reply {
	in.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	return in.doReader(method, path, token, hdr, rd)
}

// doReader is do with a body read from rd; one of unknown length (not a *bytes.Reader
// and the like) is sent chunked, without Content-Length.
func (in *instance) doReader(method, path, token string, hdr map[string]string, rd io.Reader) reply {
	in.t.Helper()
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = in.srv.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		in.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		if v == "-" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func meta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// create starts an upload and returns its URL path.
func (in *instance) create(conf, token string, size int64, md string) string {
	in.t.Helper()
	r := in.do("POST", "/v1/conferences/"+conf+"/uploads", token, map[string]string{
		"Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": md}, nil)
	if r.status != http.StatusCreated {
		in.t.Fatalf("create: %v", r)
	}
	return locationPath(in.t, r)
}

func locationPath(t testing.TB, r reply) string {
	t.Helper()
	loc := r.header.Get("Location")
	i := strings.Index(loc, "/v1/")
	if i < 0 {
		t.Fatalf("Location %q", loc)
	}
	return loc[i:]
}

func (in *instance) patch(path, token string, offset int64, data []byte, hdr ...string) reply {
	in.t.Helper()
	return in.do("PATCH", path, token, patchHeaders(offset, hdr), data)
}

// patchHeaders are a PATCH's tus headers, and the extra ones hdr names in pairs.
func patchHeaders(offset int64, hdr []string) map[string]string {
	h := map[string]string{"Upload-Offset": strconv.FormatInt(offset, 10), "Content-Type": "application/offset+octet-stream"}
	for i := 0; i+1 < len(hdr); i += 2 {
		h[hdr[i]] = hdr[i+1]
	}
	return h
}

func (in *instance) offset(path, token string) int64 {
	in.t.Helper()
	r := in.do("HEAD", path, token, nil, nil)
	if r.status != http.StatusOK {
		in.t.Fatalf("HEAD: %v", r)
	}
	n, err := strconv.ParseInt(r.header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		in.t.Fatalf("Upload-Offset %q", r.header.Get("Upload-Offset"))
	}
	return n
}

// sendAll PATCHes data from offset in chunks of the given sizes (cycled).
func (in *instance) sendAll(path, token string, data []byte, from int64, chunks ...int) reply {
	in.t.Helper()
	var last reply
	off := from
	for i := 0; off < int64(len(data)); i++ {
		n := int64(chunks[i%len(chunks)])
		end := min(off+n, int64(len(data)))
		last = in.patch(path, token, off, data[off:end])
		if last.status != http.StatusNoContent {
			in.t.Fatalf("PATCH at %d: %v", off, last)
		}
		got, _ := strconv.ParseInt(last.header.Get("Upload-Offset"), 10, 64)
		if got != end {
			in.t.Fatalf("PATCH at %d: Upload-Offset %d, want %d", off, got, end)
		}
		off = end
	}
	return last
}

// checkContent decrypts the stored content with the key the server returned and
// compares its SHA-256 with the plaintext's.
func (in *instance) checkContent(conf string, res Result, want []byte) {
	in.t.Helper()
	key, err := encryption.ParseKey(res.Key)
	if err != nil {
		in.t.Fatal(err)
	}
	rc, size, err := in.engine.OpenContent(context.Background(), conf, res.Name, key, 0, -1)
	if err != nil {
		in.t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		in.t.Fatal(err)
	}
	if size != int64(len(want)) || res.Size != int64(len(want)) {
		in.t.Fatalf("size %d (result %d), want %d", size, res.Size, len(want))
	}
	if got, w := h.Sum(nil), sha256.Sum256(want); !bytes.Equal(got, w[:]) {
		in.t.Fatal("the stored content does not decrypt to the uploaded bytes")
	}
}

func resultFromHeaders(t *testing.T, r reply) Result {
	t.Helper()
	res := Result{Name: r.header.Get(HeaderContentName), URL: r.header.Get(HeaderContentURL), Key: r.header.Get(HeaderContentKey), Handout: r.header.Get(HeaderHandoutID)}
	res.Size, _ = strconv.ParseInt(r.header.Get(HeaderContentSize), 10, 64)
	if res.Name == "" || res.Key == "" || res.URL == "" {
		t.Fatalf("completion answer lacks the content headers: %v %v", r, r.header)
	}
	return res
}

// objects lists every object of the bucket under prefix.
func (be *backend) objects(t *testing.T, prefix string) []storage.Attributes {
	t.Helper()
	var out []storage.Attributes
	for a, err := range be.bucket.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// noPlaintext fails if any object in the whole bucket contains a marker of the
// plaintext.
func (be *backend) noPlaintext(t *testing.T, markers ...string) {
	t.Helper()
	for _, a := range be.objects(t, "") {
		data, _, err := be.bucket.ReadAll(context.Background(), a.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markers {
			if bytes.Contains(data, []byte(m)) {
				t.Fatalf("object %s holds plaintext %q", a.Key, m)
			}
		}
	}
}

// textData is recognisable plaintext: every line names its own number.
func textData(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "lectern-plaintext-line-%09d\n", i)
	}
	return b.Bytes()[:n]
}

func sha1B64(b []byte) string { return digestB64("sha1", b) }

func digestB64(alg string, b []byte) string {
	c := &checksum{alg: alg}
	h := c.newHash()
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func storageCond() storage.Condition { return storage.Condition{} }

// segmentsEnd is the plaintext offset at the end of an upload's stored parts.
func segmentsEnd(t *testing.T, in *instance, conf, id string) int64 {
	t.Helper()
	ctx := contextWith(context.Background(), &reqState{conf: conf})
	u, err := in.h.store.load(ctx, conf, id)
	if err != nil {
		t.Fatal(err)
	}
	return u.plainSegs
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func bigLimits() conference.Limits {
	l := conference.DefaultLimits()
	l.MaxContentFile, l.MaxConferenceContent = 1<<40, 1<<40
	return l
}

func hexBytes(t testing.TB, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
