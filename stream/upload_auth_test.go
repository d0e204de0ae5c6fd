package stream

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi"
)

// uploadRoute is one route of the upload endpoint and how the auth matrix calls it.
type uploadRoute struct {
	method, path string // as registered
	public       bool   // tus discovery: answered without a token
	hdr          map[string]string
	body         []byte
}

// uploadRoutes are every route the upload endpoint registers. A route added without
// a row here fails TestUploadRoutesAreAllInTheAuthMatrix.
var uploadRoutes = []uploadRoute{
	{method: "OPTIONS", path: "/v1/conferences/:conf/uploads", public: true},
	{method: "POST", path: "/v1/conferences/:conf/uploads", hdr: map[string]string{"Upload-Length": "10"}},
	{method: "OPTIONS", path: "/v1/conferences/:conf/uploads/:upload", public: true},
	{method: "HEAD", path: "/v1/conferences/:conf/uploads/:upload"},
	{method: "PATCH", path: "/v1/conferences/:conf/uploads/:upload", hdr: patchHeaders(0, nil), body: []byte("0123456789")},
	{method: "DELETE", path: "/v1/conferences/:conf/uploads/:upload"},
	{method: "GET", path: "/v1/conferences/:conf/uploads/:upload/result"},
}

// TestUploadRoutesAreAllInTheAuthMatrix fails when the upload endpoint registers a
// route that the auth matrix does not call: a new route mounted without the presenter
// guard would otherwise go unnoticed.
func TestUploadRoutesAreAllInTheAuthMatrix(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	api, err := httpapi.New(httpapi.Config{Content: be.bucket, Auth: be.auth, Logger: discardLogger(), Routes: []httpapi.RouteRegistrar{in.h.Routes()}})
	if err != nil {
		t.Fatal(err)
	}
	inMatrix := map[string]bool{}
	for _, r := range uploadRoutes {
		inMatrix[r.method+" "+r.path] = true
	}
	var seen int
	for _, ri := range api.Engine().Routes() {
		if !strings.Contains(ri.Path, "/uploads") {
			continue
		}
		seen++
		if !inMatrix[ri.Method+" "+ri.Path] {
			t.Errorf("upload route %s %s has no row in the auth matrix", ri.Method, ri.Path)
		}
	}
	if seen != len(uploadRoutes) {
		t.Errorf("%d upload routes registered, the matrix has %d rows: a row names a route that is gone", seen, len(uploadRoutes))
	}
}

// TestUploadRoutesAuthMatrix: only presenters (and organizers, admins) of the
// conference may create, read, write, terminate or collect an upload. A route whose
// guard is missing or too weak would let a caller without a token terminate someone's
// upload, an attendee write into it or read its content key, or a presenter of
// another conference do either. After every refused request the owner still finds
// the upload as it was.
func TestUploadRoutesAuthMatrix(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	other := in.conference("conf-b")
	owner := in.token(httpapi.RolePresenter, conf, "alice")
	loc := in.create(conf, owner, 10, "")
	id := loc[strings.LastIndex(loc, "/")+1:]

	callers := []struct {
		name  string
		token string
		want  int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"garbage token", "not-a-jwt", http.StatusUnauthorized},
		{"attendee", in.token(httpapi.RoleAttendee, conf, "alice"), http.StatusForbidden},
		{"presenter of another conference", in.token(httpapi.RolePresenter, other, "alice"), http.StatusForbidden},
		{"admin of another conference", in.token(httpapi.RoleAdmin, other, "alice"), http.StatusForbidden},
	}
	uploadsBefore := len(be.objects(t, "uploads/"))
	for _, r := range uploadRoutes {
		path := strings.NewReplacer(":conf", conf, ":upload", id).Replace(r.path)
		for _, c := range callers {
			t.Run(r.method+" "+r.path+"/"+c.name, func(t *testing.T) {
				got := in.do(r.method, path, c.token, r.hdr, r.body)
				if r.public {
					if got.status >= 400 {
						t.Fatalf("tus discovery refused: %v", got)
					}
					return
				}
				if got.status != c.want {
					t.Fatalf("%s %s as %s: %v, want %d", r.method, path, c.name, got, c.want)
				}
				if c.want == http.StatusUnauthorized && got.header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
				if h := in.do("HEAD", loc, owner, nil, nil); h.status != http.StatusOK || h.header.Get("Upload-Offset") != "0" {
					t.Fatalf("after the refused request the owner's HEAD: %d, Upload-Offset %q", h.status, h.header.Get("Upload-Offset"))
				}
				if n := len(be.objects(t, "uploads/")); n != uploadsBefore {
					t.Fatalf("the refused request changed the stored uploads: %d objects, were %d", n, uploadsBefore)
				}
			})
		}
	}
}

// TestUploadBelongsToItsUploader: within the conference, an upload and its result
// (the content's key) are the uploader's subject's, or an admin's. If the result
// route did not pass the caller's subject on, any presenter could collect the key of
// another's upload; if the owner check did not let admins through, an operator's
// token (which carries a subject of its own) could not inspect or finish a stuck
// upload.
func TestUploadBelongsToItsUploader(t *testing.T) {
	be := newBackend(t)
	in := be.start(t)
	conf := in.conference("conf-a")
	alice := in.token(httpapi.RolePresenter, conf, "alice")
	loc := in.create(conf, alice, 3, meta("filename", "a.png"))
	if r := in.patch(loc, alice, 0, []byte("abc")); r.status != http.StatusNoContent {
		t.Fatalf("PATCH: %v", r)
	}
	admin, _, err := be.auth.Mint(httpapi.TokenSpec{Role: httpapi.RoleAdmin, Subject: "ops", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	confAdmin := in.token(httpapi.RoleAdmin, conf, "organizer")
	mallory := in.token(httpapi.RolePresenter, conf, "mallory")

	cases := []struct {
		name, method, path, token string
		want                      int
	}{
		{"another presenter's HEAD", "HEAD", loc, mallory, http.StatusForbidden},
		{"another presenter's result", "GET", loc + "/result", mallory, http.StatusForbidden},
		{"another presenter's DELETE", "DELETE", loc, mallory, http.StatusForbidden},
		{"the uploader's HEAD", "HEAD", loc, alice, http.StatusOK},
		{"the uploader's result", "GET", loc + "/result", alice, http.StatusOK},
		{"a global admin with a subject: HEAD", "HEAD", loc, admin, http.StatusOK},
		{"a global admin with a subject: result", "GET", loc + "/result", admin, http.StatusOK},
		{"the conference's admin: result", "GET", loc + "/result", confAdmin, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := in.do(tc.method, tc.path, tc.token, nil, nil)
			if got.status != tc.want {
				t.Fatalf("%s %s: %v, want %d", tc.method, tc.path, got, tc.want)
			}
			if tc.method == "GET" && tc.want == http.StatusOK && !strings.Contains(string(got.body), `"key"`) {
				t.Fatalf("result without the content key: %s", got.body)
			}
			if tc.want != http.StatusOK && strings.Contains(string(got.body), `"key"`) {
				t.Fatalf("a refused caller got the result: %s", got.body)
			}
		})
	}
}
