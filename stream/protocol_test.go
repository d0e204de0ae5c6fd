package stream

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/encryption"
	"github.com/lectern/lectern/httpapi"
)

func TestOptionsAdvertisesExtensions(t *testing.T) {
	in := newBackend(t).start(t)
	conf := in.conference("conf-a")
	r := in.do("OPTIONS", "/v1/conferences/"+conf+"/uploads", "", map[string]string{"Tus-Resumable": "-"}, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("OPTIONS: %v", r)
	}
	if r.header.Get("Tus-Version") != "1.0.0" {
		t.Errorf("Tus-Version %q", r.header.Get("Tus-Version"))
	}
	ext := "," + r.header.Get("Tus-Extension") + ","
	for _, e := range []string{"creation", "creation-defer-length", "termination", "checksum", "expiration"} {
		if !strings.Contains(ext, ","+e+",") {
			t.Errorf("Tus-Extension %q lacks %s", ext, e)
		}
	}
	if r.header.Get("Tus-Checksum-Algorithm") != ChecksumAlgorithms {
		t.Errorf("Tus-Checksum-Algorithm %q", r.header.Get("Tus-Checksum-Algorithm"))
	}
	if want := strconv.FormatInt(in.engine.Limits().MaxContentFile, 10); r.header.Get("Tus-Max-Size") != want {
		t.Errorf("Tus-Max-Size %q, want %s", r.header.Get("Tus-Max-Size"), want)
	}
	// tusd's counters are on the server's /metrics.
	m := in.do("GET", "/metrics", "", nil, nil)
	if m.status != http.StatusOK || !strings.Contains(string(m.body), "tusd_requests_total") {
		t.Errorf("/metrics lacks tusd's counters: %d", m.status)
	}
}

func TestUploadInChunks(t *testing.T) { forEachMode(t, testUploadInChunks) }

func testUploadInChunks(t *testing.T, newBackend func(testing.TB) *backend) {
	seg := encryption.DefaultSegmentSize
	cases := []struct {
		name   string
		size   int
		chunks []int
	}{
		{"tiny chunks", 3000, []int{1, 7, 1000}},
		{"unaligned", 5*seg + 123, []int{seg - 1, 3*seg + 17, 5}},
		{"exactly segment 0", seg - encryption.HeaderSize - encryption.TagSize, []int{1 << 20}},
		{"segment boundaries", 2*seg - encryption.HeaderSize - 2*encryption.TagSize, []int{seg - encryption.HeaderSize - encryption.TagSize, seg - encryption.TagSize}},
		{"large chunks", 3<<20 + 5, []int{1 << 20}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t)
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(tc.size)
			loc := in.create(conf, tok, int64(len(data)), meta("filename", "secret-deck.pdf", "purpose", "slide"))
			// Half way: the offset survives in storage and nothing is plaintext.
			half := len(data) / 2
			if half > 0 {
				in.sendAll(loc, tok, data[:half], 0, tc.chunks...)
				if got := in.offset(loc, tok); got != int64(half) {
					t.Fatalf("HEAD offset %d, want %d", got, half)
				}
				be.noPlaintext(t, "lectern-plaintext-line", "secret-deck")
			}
			last := in.sendAll(loc, tok, data, int64(half), tc.chunks...)
			res := resultFromHeaders(t, last)
			if !strings.HasSuffix(res.Name, ".epdf") {
				t.Errorf("content name %q does not carry the file's type", res.Name)
			}
			in.checkContent(conf, res, data)
			be.noPlaintext(t, "lectern-plaintext-line", "secret-deck")

			// The result route answers the same, to the uploader.
			r := in.do("GET", loc+"/result", tok, nil, nil)
			var got Result
			if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil {
				t.Fatalf("result: %v", r)
			}
			if got.Key != res.Key || got.Name != res.Name || got.Size != int64(len(data)) || got.URL != res.URL {
				t.Fatalf("result %+v, completion headers %+v", got, res)
			}
			// Only the record of the finished upload is left.
			for _, a := range be.objects(t, "uploads/") {
				if !strings.HasSuffix(a.Key, "/"+infoObject) {
					t.Errorf("left behind: %s", a.Key)
				}
			}
			// HEAD of a finished upload reports it complete.
			if got := in.offset(loc, tok); got != int64(len(data)) {
				t.Errorf("HEAD after completion: %d", got)
			}
		})
	}
}

func TestProtocolErrors(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(200_000)
	loc := in.create(conf, tok, int64(len(data)), meta("filename", "a.png"))
	if r := in.patch(loc, tok, 0, data[:70_000]); r.status != http.StatusNoContent {
		t.Fatal(r)
	}
	cases := []struct {
		name   string
		offset int64
		hdr    []string
		status int
		code   httpapi.Code
	}{
		{"offset behind", 10, nil, http.StatusConflict, httpapi.CodeConflict},
		{"offset ahead", 80_000, nil, http.StatusConflict, httpapi.CodeConflict},
		{"wrong content type", 70_000, []string{"Content-Type", "application/octet-stream"}, http.StatusUnsupportedMediaType, httpapi.CodeUnsupportedMedia},
		{"no Tus-Resumable", 70_000, []string{"Tus-Resumable", "-"}, http.StatusPreconditionFailed, httpapi.CodePreconditionFailed},
		{"bad offset", -1, nil, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"checksum mismatch", 70_000, []string{"Upload-Checksum", "sha1 " + sha1B64([]byte("other bytes"))}, StatusChecksumMismatch, CodeChecksumMismatch},
		{"unknown checksum algorithm", 70_000, []string{"Upload-Checksum", "crc32 AAAAAA=="}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"body over Upload-Length", 70_000, []string{"Content-Length", "-"}, http.StatusRequestEntityTooLarge, httpapi.CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := data[70_000:80_000]
			if tc.name == "body over Upload-Length" {
				body = textData(200_000)
			}
			r := in.patch(loc, tok, tc.offset, body, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("got %v, want %d", r, tc.status)
			}
			var eb httpapi.ErrorBody
			if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code != tc.code || eb.Error.Status != tc.status {
				t.Fatalf("error body %s, want code %s", r.body, tc.code)
			}
			if got := in.offset(loc, tok); got != 70_000 {
				t.Fatalf("offset moved to %d", got)
			}
			for _, a := range be.objects(t, "uploads/") {
				if strings.HasSuffix(a.Key, "/"+stageObject) {
					t.Fatalf("stage left behind: %s", a.Key)
				}
			}
		})
	}
	// Nothing of the rejected checksum PATCH reached a part: only the 70,000 first
	// bytes were ever stored in segments (one part, from the first PATCH).
	var partPuts int
	for _, k := range be.rec.putKeys("uploads/") {
		if strings.Contains(k, "/"+partPrefix) {
			partPuts++
		}
	}
	if partPuts != 1 {
		t.Fatalf("%d part puts, want 1", partPuts)
	}
	// And the upload still completes correctly.
	last := in.sendAll(loc, tok, data, 70_000, 50_000)
	in.checkContent(conf, resultFromHeaders(t, last), data)
}

func TestChecksumAccepted(t *testing.T) { forEachMode(t, testChecksumAccepted) }

func testChecksumAccepted(t *testing.T, newBackend func(testing.TB) *backend) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(300_001)
	loc := in.create(conf, tok, int64(len(data)), meta("filename", "a.png"))
	steps := []struct {
		end int
		alg string
	}{{100_000, "sha1"}, {200_000, "sha256"}, {300_001, "md5"}}
	off := 0
	var last reply
	for _, s := range steps {
		chunk := data[off:s.end]
		last = in.patch(loc, tok, int64(off), chunk, "Upload-Checksum", s.alg+" "+digestB64(s.alg, chunk))
		if last.status != http.StatusNoContent {
			t.Fatalf("%s: %v", s.alg, last)
		}
		off = s.end
	}
	in.checkContent(conf, resultFromHeaders(t, last), data)
	be.noPlaintext(t, "lectern-plaintext-line")
}

func TestTermination(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(150_000)
	loc := in.create(conf, tok, int64(len(data)), "")
	in.sendAll(loc, tok, data[:100_000], 0, 100_000)
	if r := in.do("DELETE", loc, tok, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %v", r)
	}
	if r := in.do("HEAD", loc, tok, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("HEAD after DELETE: %v", r)
	}
	if r := in.patch(loc, tok, 100_000, data[100_000:]); r.status != http.StatusNotFound {
		t.Fatalf("PATCH after DELETE: %v", r)
	}
	if objs := be.objects(t, "uploads/"); len(objs) != 0 {
		t.Fatalf("left behind: %v", objs)
	}
}

func TestExpiration(t *testing.T) {
	be := newBackend(t)
	in := be.start(t, withStream(func(c *Config) { c.Expiry = time.Hour }))
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(100_000)
	r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Length": "100000"}, nil)
	exp, err := http.ParseTime(r.header.Get("Upload-Expires"))
	if r.status != http.StatusCreated || err != nil {
		t.Fatalf("create: %v, Upload-Expires %q", r, r.header.Get("Upload-Expires"))
	}
	if d := exp.Sub(be.clock.Now()); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("Upload-Expires %v is not an hour ahead", exp)
	}
	loc := locationPath(t, r)
	p := in.patch(loc, tok, 0, data[:70_000])
	if p.status != http.StatusNoContent || p.header.Get("Upload-Expires") != r.header.Get("Upload-Expires") {
		t.Fatalf("PATCH: %v, Upload-Expires %q", p, p.header.Get("Upload-Expires"))
	}
	be.clock.Advance(time.Hour)
	for _, method := range []string{"HEAD", "PATCH"} {
		var got reply
		if method == "HEAD" {
			got = in.do("HEAD", loc, tok, nil, nil)
		} else {
			got = in.patch(loc, tok, 70_000, data[70_000:])
		}
		// The first request finds it expired and removes it; later ones find nothing.
		if got.status != http.StatusGone && got.status != http.StatusNotFound {
			t.Fatalf("%s of an expired upload: %v", method, got)
		}
	}
	if objs := be.objects(t, "uploads/"); len(objs) != 0 {
		t.Fatalf("expired upload left: %v", objs)
	}
}

func TestLimits(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	lim := in.engine.Limits()
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"over Tus-Max-Size", map[string]string{"Upload-Length": strconv.FormatInt(lim.MaxContentFile+1, 10)}, http.StatusRequestEntityTooLarge},
		{"handout over its limit", map[string]string{"Upload-Length": strconv.FormatInt(lim.MaxHandoutFile+1, 10), "Upload-Metadata": meta("purpose", "handout", "filename", "h.pdf")}, http.StatusRequestEntityTooLarge},
		{"bad purpose", map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("purpose", "poster")}, http.StatusBadRequest},
		{"bad type", map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("ext", "../x")}, http.StatusBadRequest},
		{"no length", map[string]string{}, http.StatusBadRequest},
		{"negative length", map[string]string{"Upload-Length": "-5"}, http.StatusBadRequest},
		{"length not a number", map[string]string{"Upload-Length": "12abc"}, http.StatusBadRequest},
		{"length and deferred", map[string]string{"Upload-Length": "5", "Upload-Defer-Length": "1"}, http.StatusBadRequest},
		{"bad defer value", map[string]string{"Upload-Defer-Length": "2"}, http.StatusBadRequest},
		{"unknown conference", map[string]string{"Upload-Length": "10", "path": "/v1/conferences/conf-none/uploads"}, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, tk := "/v1/conferences/"+conf+"/uploads", tok
			if p := tc.hdr["path"]; p != "" {
				path, tk = p, in.token(httpapi.RolePresenter, "conf-none", "alice")
				delete(tc.hdr, "path")
			}
			r := in.do("POST", path, tk, tc.hdr, nil)
			if r.status != tc.want {
				t.Fatalf("got %v, want %d", r, tc.want)
			}
			if objs := be.objects(t, "uploads/"); len(objs) != 0 {
				t.Fatalf("left behind: %v", objs)
			}
		})
	}
	t.Run("deferred length over the limit", func(t *testing.T) {
		r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": meta("purpose", "handout", "filename", "h.pdf")}, nil)
		if r.status != http.StatusCreated {
			t.Fatal(r)
		}
		loc := locationPath(t, r)
		p := in.patch(loc, tok, 0, []byte("x"), "Upload-Length", strconv.FormatInt(lim.MaxHandoutFile+1, 10))
		if p.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %v", p)
		}
	})
	t.Run("deferred length, body over the purpose's limit", func(t *testing.T) {
		small := be.start(t, withLimits(conference.Limits{MaxContentFile: 200_000, MaxHandoutFile: 100_000,
			MaxConferenceContent: 1 << 30, MaxConferenceHandouts: 1 << 30, MaxContentFiles: 10, MaxHandoutFiles: 10}))
		r := small.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": meta("purpose", "handout", "filename", "h.pdf")}, nil)
		if r.status != http.StatusCreated {
			t.Fatal(r)
		}
		loc := locationPath(t, r)
		data := textData(150_000)
		small.sendAll(loc, tok, data[:90_000], 0, 90_000)
		if p := small.patch(loc, tok, 90_000, data[90_000:]); p.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %v", p)
		}
		if got := small.offset(loc, tok); got != 90_000 {
			t.Fatalf("offset %d after the refused PATCH", got)
		}
	})
	t.Run("ended conference", func(t *testing.T) {
		c2 := in.conference("conf-ended")
		if _, err := in.engine.EndConference(t.Context(), c2); err != nil {
			t.Fatal(err)
		}
		r := in.do("POST", "/v1/conferences/"+c2+"/uploads", in.token(httpapi.RolePresenter, c2, ""), map[string]string{"Upload-Length": "10"}, nil)
		if r.status != http.StatusConflict {
			t.Fatalf("got %v", r)
		}
	})
}

func TestDeferredLengthAndEmpty(t *testing.T) { forEachMode(t, testDeferredLengthAndEmpty) }

func testDeferredLengthAndEmpty(t *testing.T, newBackend func(testing.TB) *backend) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")

	data := textData(140_000)
	r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Defer-Length": "1"}, nil)
	if r.status != http.StatusCreated {
		t.Fatal(r)
	}
	loc := locationPath(t, r)
	if h := in.do("HEAD", loc, tok, nil, nil); h.header.Get("Upload-Defer-Length") != "1" {
		t.Fatalf("HEAD of a deferred upload: %v", h.header)
	}
	in.sendAll(loc, tok, data[:100_000], 0, 100_000)
	last := in.patch(loc, tok, 100_000, data[100_000:], "Upload-Length", "140000")
	if last.status != http.StatusNoContent {
		t.Fatal(last)
	}
	in.checkContent(conf, resultFromHeaders(t, last), data)

	// An empty upload completes at creation.
	e := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{"Upload-Length": "0", "Upload-Metadata": meta("filename", "empty.txt")}, nil)
	if e.status != http.StatusCreated {
		t.Fatal(e)
	}
	in.checkContent(conf, resultFromHeaders(t, e), nil)
}

func TestCreationWithUploadAndDirectPath(t *testing.T) {
	forEachMode(t, testCreationWithUploadAndDirectPath)
}

func testCreationWithUploadAndDirectPath(t *testing.T, newBackend func(testing.TB) *backend) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(1 << 20)

	// One PATCH with everything: streamed straight into the content, no parts.
	loc := in.create(conf, tok, int64(len(data)), meta("filename", "a.png"))
	last := in.patch(loc, tok, 0, data)
	if last.status != http.StatusNoContent {
		t.Fatal(last)
	}
	in.checkContent(conf, resultFromHeaders(t, last), data)
	// creation-with-upload: the POST carries the bytes.
	r := in.do("POST", "/v1/conferences/"+conf+"/uploads", tok, map[string]string{
		"Upload-Length": strconv.Itoa(len(data)), "Content-Type": "application/offset+octet-stream"}, data)
	if r.status != http.StatusCreated || r.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("creation-with-upload: %v %v", r, r.header)
	}
	in.checkContent(conf, resultFromHeaders(t, r), data)
	for _, k := range be.rec.putKeys("uploads/") {
		if strings.Contains(k, "/"+partPrefix) || strings.HasSuffix(k, "/"+tailObject) {
			t.Fatalf("a one-shot upload wrote %s", k)
		}
	}
	be.noPlaintext(t, "lectern-plaintext-line")
}

func TestContentType(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	cases := []struct {
		md   string
		want string // suffix of the content name
	}{
		{meta("filename", "Talk.PDF"), ".epdf"},
		{meta("filename", "notes.docx~"), ".ebin"},
		{meta("filename", "README"), ".ebin"},
		{meta("filename", "a.pdf", "ext", "pptx"), ".epptx"},
		{"", ".ebin"},
	}
	for _, tc := range cases {
		loc := in.create(conf, tok, 3, tc.md)
		last := in.patch(loc, tok, 0, []byte("abc"))
		if res := resultFromHeaders(t, last); !strings.HasSuffix(res.Name, tc.want) {
			t.Errorf("metadata %q: content %s, want *%s", tc.md, res.Name, tc.want)
		}
	}
}

func TestHandoutUpload(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	tok := in.token(httpapi.RolePresenter, conf, "alice")
	data := textData(200_000)
	loc := in.create(conf, tok, int64(len(data)), meta("filename", "notes.docx", "purpose", "handout"))
	last := in.sendAll(loc, tok, data, 0, 64_000)
	res := resultFromHeaders(t, last)
	if res.Handout == "" || !strings.HasSuffix(res.Name, ".blb") {
		t.Fatalf("handout result %+v", res)
	}
	in.checkContent(conf, res, data)
	hs, err := in.engine.ListHandouts(t.Context(), conf)
	if err != nil || len(hs) != 1 || hs[0].ID != res.Handout || hs[0].OriginalFilename != "notes.docx" {
		t.Fatalf("handouts %+v, %v", hs, err)
	}
}

// TestDamagedUpload: a record or a part changed in storage makes the upload answer
// 410 (start again), never a panic or a wrong offset.
func TestDamagedUpload(t *testing.T) { forEachMode(t, testDamagedUpload) }

func testDamagedUpload(t *testing.T, newBackend func(testing.TB) *backend) {
	cases := []struct {
		name   string
		damage func(t *testing.T, be *backend, prefix string)
	}{
		{"record not JSON", func(t *testing.T, be *backend, prefix string) {
			put(t, be, prefix+infoObject, []byte("{not json"))
		}},
		{"sealed part modified", func(t *testing.T, be *backend, prefix string) {
			b, _, _ := be.bucket.ReadAll(t.Context(), prefix+infoObject)
			put(t, be, prefix+infoObject, bytes.Replace(b, []byte(`"secret":"`), []byte(`"secret":"AAAA`), 1))
		}},
		{"part cut short", func(t *testing.T, be *backend, prefix string) {
			b, _, _ := be.bucket.ReadAll(t.Context(), prefix+partName(0))
			put(t, be, prefix+partName(0), b[:len(b)-1])
		}},
		{"part missing before another", func(t *testing.T, be *backend, prefix string) {
			b, _, _ := be.bucket.ReadAll(t.Context(), prefix+partName(0))
			put(t, be, prefix+partName(7), b)
			if err := be.bucket.Delete(t.Context(), prefix+partName(0)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			in := be.start(t)
			conf := in.conference("conf-a")
			tok := in.token(httpapi.RolePresenter, conf, "alice")
			data := textData(300_000)
			loc := in.create(conf, tok, int64(len(data)), "")
			in.sendAll(loc, tok, data[:150_000], 0, 150_000)
			tc.damage(t, be, uploadPrefix(conf, loc[strings.LastIndexByte(loc, '/')+1:]))
			if r := in.do("HEAD", loc, tok, nil, nil); r.status != http.StatusGone {
				t.Fatalf("HEAD: %v", r)
			}
			if r := in.patch(loc, tok, 150_000, data[150_000:]); r.status != http.StatusGone {
				t.Fatalf("PATCH: %v", r)
			}
			// It can still be terminated, which removes everything of it.
			if r := in.do("DELETE", loc, tok, nil, nil); r.status != http.StatusNoContent {
				t.Fatalf("DELETE: %v", r)
			}
			if objs := be.objects(t, "uploads/"); len(objs) != 0 {
				t.Fatalf("left behind: %v", objs)
			}
		})
	}
}

func put(t *testing.T, be *backend, key string, b []byte) {
	t.Helper()
	if _, err := be.bucket.PutBytes(t.Context(), key, b, storageCond()); err != nil {
		t.Fatal(err)
	}
}
