package stream

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKeyNeverStoredOrLogged: the content key reaches the uploader and nothing else —
// no object of the bucket holds it in hex or raw, and no log line (debug level, engine,
// tusd and request logs) contains it, even around errors.
func TestKeyNeverStoredOrLogged(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	be := newBackend(t)
	be.log = log
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(300_000)
	loc := in.create(conf, tok, int64(len(data)), meta("filename", "k.pdf"))
	in.sendAll(loc, tok, data[:100_000], 0, 100_000)
	// Some errors on the way.
	in.patch(loc, tok, 5, data[5:10])
	in.patch(loc, tok, 100_000, data[100_000:110_000], "Upload-Checksum", "sha1 "+sha1B64([]byte("x")))
	last := in.sendAll(loc, tok, data, 100_000, 100_000)
	res := resultFromHeaders(t, last)
	in.checkContent(conf, res, data)
	key := res.Key
	for _, a := range be.objects(t, "") {
		b, _, err := be.bucket.ReadAll(t.Context(), a.Key)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(key)) || bytes.Contains(b, hexBytes(t, key)) {
			t.Fatalf("object %s holds the content key", a.Key)
		}
	}
	if strings.Contains(logs.String(), key) {
		t.Fatal("a log line holds the content key")
	}
	if !strings.Contains(logs.String(), "upload stored") || !strings.Contains(logs.String(), `"msg":"request"`) {
		t.Fatal("the logger saw nothing: the check above proves nothing")
	}
}

func TestDeriveUploadKey(t *testing.T) {
	kek := bytes.Repeat([]byte{3}, 32)
	a, err := DeriveUploadKey(kek)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveUploadKey(append([]byte(nil), kek...))
	c, _ := DeriveUploadKey(bytes.Repeat([]byte{4}, 32))
	if a != b || a == c || bytes.Equal(a[:], kek) {
		t.Fatal("the upload key must be a deterministic function of the KEK, and not the KEK")
	}
	if _, err := DeriveUploadKey(kek[:16]); err == nil {
		t.Fatal("a short KEK was accepted")
	}
}

// TestWrongUploadKey: an instance with another upload key cannot open the records
// (a misconfigured pool) and says so with 410, not with a key in an error.
func TestWrongUploadKey(t *testing.T) {
	be := newBackend(t)
	a := be.start(t)
	conf := a.conference("conf-a")
	tok := a.token(httpapi.RolePresenter, conf, "alice")
	loc := a.create(conf, tok, 100, "")
	b := be.start(t, withStream(func(c *Config) { c.UploadKey = [UploadKeySize]byte{0xee} }))
	if r := b.do("HEAD", loc, tok, nil, nil); r.status != http.StatusGone {
		t.Fatalf("HEAD with the wrong upload key: %v", r)
	}
}

// TestUploadAcrossKEKRotation: an upload begun before a KEK rotation (its record sealed
// with the upload key of the previous KEK) resumes on an instance that has the new
// upload key and the previous one, and completes.
func TestUploadAcrossKEKRotation(t *testing.T) {
	be := newBackend(t)
	a := be.start(t)
	conf := a.conference("conf-a")
	tok := a.token(httpapi.RolePresenter, conf, "alice")
	data := textData(300_000)
	loc := a.create(conf, tok, int64(len(data)), meta("filename", "talk.pdf"))
	a.sendAll(loc, tok, data[:100_000], 0, 100_000)
	a.stop()
	b := be.start(t, withStream(func(c *Config) {
		c.PreviousUploadKeys = [][UploadKeySize]byte{c.UploadKey}
		c.UploadKey = [UploadKeySize]byte{0xee}
	}))
	if off := b.offset(loc, tok); off != 100_000 {
		t.Fatalf("offset after the rotation %d, want 100000", off)
	}
	last := b.sendAll(loc, tok, data, 100_000, 200_000)
	b.checkContent(conf, resultFromHeaders(t, last), data)
}

// TestEngineSweepRemovesStaleUploads: the engine's retention sweep removes an upload
// left unfinished past Retention.UploadAge; the endpoint then answers 404.
func TestEngineSweepRemovesStaleUploads(t *testing.T) {
	be := newBackend(t)
	in := be.start(t, withStream(func(c *Config) { c.Expiry = 24 * time.Hour }))
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(100_000)
	loc := in.create(conf, tok, int64(len(data)), "")
	in.sendAll(loc, tok, data[:80_000], 0, 80_000)
	// Storage modification times are real time; move the clock the engine compares
	// them with past the upload age instead.
	be.clock.Advance(conference.DefaultRetention().UploadAge + time.Hour)
	rep, err := in.engine.Sweep(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.UploadsRemoved == 0 {
		t.Fatalf("sweep removed no upload objects: %+v", rep)
	}
	if objs := be.objects(t, "uploads/"); len(objs) != 0 {
		t.Fatalf("left after the sweep: %v", objs)
	}
	if r := in.do("HEAD", loc, tok, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("HEAD after the sweep: %v", r)
	}
}
