package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

func TestContentDownload(t *testing.T) {
	e := newEnv(t)
	data := make([]byte, 100_000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	attrs := e.put("content/"+testOrg+"/"+testConf+"/"+testName, data)
	path := ContentPath(testOrg, testConf, testName)
	auth := bearer(e.token(RoleAttendee, testConf))
	size := strconv.Itoa(len(data))

	full := e.do(http.MethodGet, path, auth, nil)
	if full.status != 200 || !bytes.Equal(full.body, data) {
		t.Fatalf("full GET: status %d, %d bytes", full.status, len(full.body))
	}
	etag := full.header.Get("ETag")
	lastMod := full.header.Get("Last-Modified")
	for h, want := range map[string]string{
		"Content-Type":   "application/octet-stream",
		"Cache-Control":  "private",
		"Accept-Ranges":  "bytes",
		"Content-Length": size,
		"ETag":           `"` + attrs.Version + `"`,
	} {
		if got := full.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if lastMod == "" {
		t.Error("no Last-Modified")
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)

	with := func(kv ...string) map[string]string {
		h := map[string]string{"Authorization": auth["Authorization"]}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	tests := []struct {
		name     string
		method   string
		header   map[string]string
		status   int
		body     []byte // nil: not checked
		cr       string // expected Content-Range, "" not checked
		code     Code   // for error statuses
		noBodyOK bool
	}{
		{"HEAD", http.MethodHead, with(), 200, []byte{}, "", "", true},
		{"first bytes", http.MethodGet, with("Range", "bytes=0-99"), 206, data[:100], "bytes 0-99/" + size, "", false},
		{"middle", http.MethodGet, with("Range", "bytes=40000-40999"), 206, data[40000:41000], "bytes 40000-40999/" + size, "", false},
		{"suffix", http.MethodGet, with("Range", "bytes=-500"), 206, data[len(data)-500:], "bytes 99500-99999/" + size, "", false},
		{"open ended", http.MethodGet, with("Range", "bytes=99000-"), 206, data[99000:], "", "", false},
		{"end past size is cut", http.MethodGet, with("Range", "bytes=99990-200000"), 206, data[99990:], "bytes 99990-99999/" + size, "", false},
		{"start past end", http.MethodGet, with("Range", "bytes=200000-"), 416, nil, "bytes */" + size, CodeRangeNotSatisfiable, false},
		{"too many ranges", http.MethodGet, with("Range", "bytes=0-1,2-3,4-5,6-7,8-9,10-11,12-13,14-15,16-17"), 416, nil, "bytes */" + size, CodeRangeNotSatisfiable, false},
		{"malformed range", http.MethodGet, with("Range", "bytes=abc"), 416, nil, "", CodeRangeNotSatisfiable, false},
		{"unknown range unit is ignored", http.MethodGet, with("Range", "items=0-9"), 200, data, "", "", false},
		{"range without a unit is ignored", http.MethodGet, with("Range", "0-9"), 200, data, "", "", false},
		{"range unit in any case", http.MethodGet, with("Range", "Bytes=0-9"), 206, data[:10], "bytes 0-9/" + size, "", false},
		{"If-None-Match same", http.MethodGet, with("If-None-Match", etag), 304, []byte{}, "", "", true},
		{"If-None-Match other", http.MethodGet, with("If-None-Match", `"other"`), 200, data, "", "", false},
		{"If-Modified-Since later", http.MethodGet, with("If-Modified-Since", future), 304, []byte{}, "", "", true},
		{"If-Range current", http.MethodGet, with("Range", "bytes=0-9", "If-Range", etag), 206, data[:10], "", "", false},
		{"If-Range stale", http.MethodGet, with("Range", "bytes=0-9", "If-Range", `"stale"`), 200, data, "", "", false},
		{"If-Match other", http.MethodGet, with("If-Match", `"other"`), 412, nil, "", CodePreconditionFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.do(tt.method, path, tt.header, nil)
			if tt.code != "" {
				wantError(t, got, tt.status, tt.code)
			} else if got.status != tt.status {
				t.Fatalf("status %d, want %d: %.200s", got.status, tt.status, got.body)
			}
			if tt.body != nil && !bytes.Equal(got.body, tt.body) {
				t.Fatalf("body: %d bytes, want %d", len(got.body), len(tt.body))
			}
			if tt.cr != "" && got.header.Get("Content-Range") != tt.cr {
				t.Fatalf("Content-Range %q, want %q", got.header.Get("Content-Range"), tt.cr)
			}
		})
	}

	t.Run("two ranges as multipart", func(t *testing.T) {
		got := e.do(http.MethodGet, path, with("Range", "bytes=0-9,50000-50009"), nil)
		if got.status != 206 {
			t.Fatalf("status %d", got.status)
		}
		mt, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("Content-Type %q", got.header.Get("Content-Type"))
		}
		mr := multipart.NewReader(bytes.NewReader(got.body), params["boundary"])
		for _, want := range [][]byte{data[:10], data[50000:50010]} {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(p)
			if !bytes.Equal(b, want) {
				t.Fatalf("part %q, want %q", b, want)
			}
		}
	})

	t.Run("missing file", func(t *testing.T) {
		got := e.do(http.MethodGet, ContentPath(testOrg, testConf, "x11111111111111111111111111111111.epng"), auth, nil)
		wantError(t, got, 404, CodeNotFound)
	})
}

func TestContentEmptyObject(t *testing.T) {
	e := newEnv(t)
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, nil)
	got := e.do(http.MethodGet, ContentPath(testOrg, testConf, testName), bearer(e.token(RoleAttendee, testConf)), nil)
	if got.status != 200 || len(got.body) != 0 || got.header.Get("Content-Length") != "0" {
		t.Fatalf("status %d, %d bytes, Content-Length %q", got.status, len(got.body), got.header.Get("Content-Length"))
	}
}

// TestContentPathTraversal sends names an attacker would try, with a token that is
// allowed everything, and checks that none reaches storage outside the content file.
func TestContentPathTraversal(t *testing.T) {
	e := newEnv(t)
	secret := []byte("conference master key material")
	e.put("meta/"+testOrg+"/"+testConf+"/conference.xml", secret)
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, []byte("fine"))
	admin := bearer(e.token(RoleAdmin, ""))
	base := "/v1/content/" + testOrg + "/" + testConf + "/"
	tests := []struct {
		path   string
		status int
	}{
		{"/v1/content/../meta/" + testOrg + "/" + testConf + "/conference.xml", 0},
		{"/v1/content/" + testOrg + "/" + testConf + "/../../../meta/" + testOrg + "/" + testConf + "/conference.xml", 0},
		{"/v1/content/%2e%2e/" + testConf + "/" + testName, 400},
		{base + "%2e%2e", 400},
		{base + "..", 400},
		{"/v1/content/" + testOrg + "/%2e%2e/conference.xml", 400},
		{base + "..%2f..%2f..%2fmeta%2f" + testOrg + "%2f" + testConf + "%2fconference.xml", 404},
		{base + "..%5c..%5cmeta%5cconference.xml", 400},
		{base + `..\..\conference.xml`, 400},
		{base + testName + "%00", 400},
		{base + "X" + testName[1:], 400},
		{"/v1/content/" + strings.ToUpper(testOrg) + "/" + testConf + "/" + testName, 400},
		{"/v1/content/" + testOrg + "/Conf-1/" + testName, 400},
		{"/v1/content/" + testOrg + "/" + strings.Repeat("a", 65) + "/" + testName, 400},
		{"/v1/content/" + testOrg + "/" + testConf + "/conference.xml", 400},
		{"/v1/content/" + testOrg + "/" + testConf + "/" + testName + "/", 404},
		{"/v1/content/" + testOrg + "//" + testName, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := e.do(http.MethodGet, tt.path, admin, nil)
			if got.status != 400 && got.status != 404 {
				t.Fatalf("status %d: %s", got.status, got.body)
			}
			if tt.status != 0 && got.status != tt.status {
				t.Fatalf("status %d, want %d: %s", got.status, tt.status, got.body)
			}
			code := map[int]Code{400: CodeInvalidID, 404: CodeNotFound}[got.status]
			wantError(t, got, got.status, code)
			if bytes.Contains(got.body, secret) {
				t.Fatal("metadata leaked")
			}
		})
	}
}

func TestRangeHint(t *testing.T) {
	tests := []struct {
		h          string
		start, end int64
		ok         bool
	}{
		{"bytes=0-99", 0, 100, true},
		{"bytes=5-5", 5, 6, true},
		{"bytes=10-", 10, -1, true},
		{"bytes=-10", 0, 0, false},
		{"bytes=0-1,3-4", 0, 0, false},
		{"bytes=0-99, ,,", 0, 100, true}, // empty list elements do not count
		{"bytes=,", 0, 0, false},
		{"bytes=9-3", 0, 0, false},
		{"items=0-1", 0, 0, false},
		{"", 0, 0, false},
		{"bytes=0-9223372036854775807", 0, 0, false},
	}
	for _, tt := range tests {
		if s, e, ok := singleRangeHint(tt.h); s != tt.start || e != tt.end || ok != tt.ok {
			t.Errorf("singleRangeHint(%q) = %d, %d, %v; want %d, %d, %v", tt.h, s, e, ok, tt.start, tt.end, tt.ok)
		}
	}
}

func TestETagOf(t *testing.T) {
	tests := map[string]string{
		"":             "",
		"17-3":         `"17-3"`,
		`"abc"`:        `"abc"`,
		"has space":    `"` + fmt.Sprintf("%x", sha256Sum("has space")[:16]) + `"`,
		"quote\"inner": `"` + fmt.Sprintf("%x", sha256Sum("quote\"inner")[:16]) + `"`,
	}
	for v, want := range tests {
		if got := etagOf(v); got != want {
			t.Errorf("etagOf(%q) = %s, want %s", v, got, want)
		}
	}
}

// countingDriver records the storage requests the content route makes.
type countingDriver struct {
	storage.Driver
	mu  sync.Mutex
	ops []string
}

func (d *countingDriver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	d.mu.Lock()
	d.ops = append(d.ops, "stat")
	d.mu.Unlock()
	return d.Driver.Stat(ctx, key)
}

func (d *countingDriver) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, storage.Attributes, error) {
	d.mu.Lock()
	d.ops = append(d.ops, fmt.Sprintf("get %d %d", off, n))
	d.mu.Unlock()
	return d.Driver.Get(ctx, key, off, n)
}

func (d *countingDriver) take() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := strings.Join(d.ops, ", ")
	d.ops = nil
	return s
}

// TestContentStorageRequests pins how many storage requests each kind of download
// costs: one for a plain or single-range GET, asking for exactly the range; a Stat
// only for conditional requests and HEAD; nothing opened to be abandoned.
func TestContentStorageRequests(t *testing.T) {
	cd := &countingDriver{Driver: diskDriver(t)}
	e := newEnvWithDriver(t, cd)
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, make([]byte, 1000))
	etag := e.do(http.MethodHead, ContentPath(testOrg, testConf, testName), bearer(e.token(RoleAttendee, testConf)), nil).header.Get("ETag")
	cd.take()
	auth := e.token(RoleAttendee, testConf)
	tests := []struct {
		name   string
		method string
		header map[string]string
		want   string
	}{
		{"plain GET", http.MethodGet, nil, "get 0 -1"},
		{"closed range", http.MethodGet, map[string]string{"Range": "bytes=100-199"}, "get 100 100"},
		{"open range", http.MethodGet, map[string]string{"Range": "bytes=900-"}, "get 900 -1"},
		{"suffix range", http.MethodGet, map[string]string{"Range": "bytes=-10"}, "stat, get 990 -1"},
		{"range past end", http.MethodGet, map[string]string{"Range": "bytes=5000-"}, "get 5000 -1, stat"},
		{"304", http.MethodGet, map[string]string{"If-None-Match": etag}, "stat"},
		{"HEAD", http.MethodHead, nil, "stat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bearer(auth)
			for k, v := range tt.header {
				h[k] = v
			}
			e.do(tt.method, ContentPath(testOrg, testConf, testName), h, nil)
			if got := cd.take(); got != tt.want {
				t.Fatalf("storage requests %q, want %q", got, tt.want)
			}
		})
	}
}
