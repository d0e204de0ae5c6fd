package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzContentPath feeds arbitrary path segments to the content route: the answer is
// never a 5xx, and anything but a well-formed name is refused before storage is used.
// `go test` runs the seeds; `go test -fuzz FuzzContentPath ./httpapi/` explores.
func FuzzContentPath(f *testing.F) {
	for _, s := range [][3]string{
		{testOrg, testConf, testName},
		{"..", "..", "conference.xml"},
		{testOrg, "%2e%2e", testName},
		{testOrg, testConf, `..\..\x`},
		{testOrg, testConf, "x" + testName[1:] + "\x00"},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	auth, _ := NewAuthority(testSecret)
	s, err := New(Config{Content: storageForFuzz(f), Auth: auth, Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	tok, _, _ := auth.Mint(TokenSpec{Role: RoleAdmin, TTL: 3600e9})
	f.Fuzz(func(t *testing.T, org, conf, name string) {
		req := httptest.NewRequest(http.MethodGet, "https://lectern/", nil)
		req.URL.Path = "/v1/content/" + org + "/" + conf + "/" + name
		req.URL.RawPath = ""
		req.RequestURI = (&url.URL{Path: req.URL.Path}).EscapedPath()
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%q: status %d %s", req.URL.Path, w.Code, w.Body)
		}
		if w.Code == http.StatusOK && (org != testOrg || conf != testConf || name != testName) {
			t.Fatalf("%q served a file", req.URL.Path)
		}
	})
}
