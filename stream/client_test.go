package stream

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"testing"

	tus "github.com/eventials/go-tus"
	"github.com/eventials/go-tus/memorystore"

	"github.com/lectern/lectern/httpapi"
)

// TestGoTusClient uploads a 50 MB file (12 MB with -short) with a third-party tus
// client (github.com/eventials/go-tus) in 1 MiB chunks, stops part way, restarts the
// server, and lets the client resume from the offset the new server reports. (1 MiB:
// httpapi's server-wide body limit currently refuses a declared length over 1 MiB
// before a route's BodyLimit can raise it; see the report on that.)
func TestGoTusClient(t *testing.T) { forEachMode(t, testGoTusClient) }

func testGoTusClient(t *testing.T, newBackend func(testing.TB) *backend) {
	size := 50_000_000
	if testing.Short() {
		size = 12_000_000
	}
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{42})
	_, _ = rng.Read(data)

	be := newBackend(t)
	a := be.start(t)
	conf := a.conference("conf-a")
	tok := a.token(httpapi.RolePresenter, conf, "alice")
	store, err := memorystore.NewMemoryStore()
	if err != nil {
		t.Fatal(err)
	}
	newClient := func(in *instance) *tus.Client {
		cfg := tus.DefaultConfig()
		cfg.ChunkSize = 1 << 20
		cfg.Resume = true
		cfg.Store = store
		cfg.HttpClient = in.client
		cfg.Header = http.Header{"Authorization": {"Bearer " + tok}}
		c, err := tus.NewClient(in.srv.URL+"/v1/conferences/"+conf+"/uploads", cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	upload := tus.NewUpload(bytes.NewReader(data), int64(size), tus.Metadata{"filename": "lecture.mp4", "purpose": "slide"}, "lecture-fingerprint")

	up, err := newClient(a).CreateOrResumeUpload(upload)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := up.UploadChunck(); err != nil {
			t.Fatal(err)
		}
	}
	a.stop()
	a.restartAt()

	b := be.start(t)
	up, err = newClient(b).CreateOrResumeUpload(upload)
	if err != nil {
		t.Fatal(err)
	}
	if up.Offset() != 3<<20 {
		t.Fatalf("the client resumes at %d, want %d", up.Offset(), 3<<20)
	}
	if err := up.Upload(); err != nil {
		t.Fatal(err)
	}
	r := b.do("GET", up.Url()+"/result", tok, nil, nil)
	var res Result
	if r.status != http.StatusOK || json.Unmarshal(r.body, &res) != nil {
		t.Fatalf("result: %v", r)
	}
	b.checkContent(conf, res, data)
}
