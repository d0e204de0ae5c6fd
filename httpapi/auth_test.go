package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAuthorityMintVerify(t *testing.T) {
	a, err := NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewAuthority(bytes.Repeat([]byte{9}, 32))
	past, _ := NewAuthority(testSecret)
	past.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }

	good, claims, err := a.Mint(TokenSpec{Role: RolePresenter, Conference: testConf, Subject: "ann", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	expired, _, _ := past.Mint(TokenSpec{Role: RoleAdmin, TTL: time.Hour})
	foreign, _, _ := other.Mint(TokenSpec{Role: RoleAdmin, TTL: time.Hour})
	parts := strings.Split(good, ".")
	// A payload swapped for an admin one, keeping the presenter token's signature.
	adminPayload, _, _ := a.Mint(TokenSpec{Role: RoleAdmin, TTL: time.Hour})
	tampered := parts[0] + "." + strings.Split(adminPayload, ".")[1] + "." + parts[2]
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid", good, nil},
		{"expired", expired, ErrTokenExpired},
		{"other secret", foreign, ErrTokenInvalid},
		{"tampered payload", tampered, ErrTokenInvalid},
		{"alg none", none, ErrTokenInvalid},
		{"garbage", "not-a-token", ErrTokenInvalid},
		{"empty", "", ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Verify(tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got.Role != RolePresenter || got.Conference != testConf || got.Subject != "ann" || got.ID != claims.ID {
					t.Fatalf("claims %+v", got)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatal("the error text contains the token")
			}
		})
	}

	t.Run("rotation keeps old tokens valid", func(t *testing.T) {
		rotated, err := NewAuthority(bytes.Repeat([]byte{9}, 32), testSecret)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rotated.Verify(good); err != nil {
			t.Fatalf("token of the previous secret: %v", err)
		}
	})
}

func TestMintRefusesBadSpecs(t *testing.T) {
	a, _ := NewAuthority(testSecret)
	for _, spec := range []TokenSpec{
		{Role: RoleAttendee, TTL: time.Hour},                          // unscoped attendee
		{Role: RolePresenter, TTL: time.Hour},                         // unscoped presenter
		{Role: "root", Conference: testConf, TTL: time.Hour},          // unknown role
		{Role: RoleAdmin, Conference: "../etc", TTL: time.Hour},       // bad scope
		{Role: RoleAdmin, TTL: 0},                                     // no lifetime
		{Role: RoleAdmin, TTL: MaxTokenTTL + time.Hour},               // too long
		{Role: RoleAttendee, Conference: "UPPER", TTL: time.Hour},     // bad id
		{Role: RoleAttendee, Conference: testConf, TTL: -time.Minute}, // negative
	} {
		if _, _, err := a.Mint(spec); !errors.Is(err, ErrTokenSpec) {
			t.Errorf("Mint(%+v) = %v, want ErrTokenSpec", spec, err)
		}
	}
	if _, err := NewAuthority([]byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
}

func TestParseRoleOrganizerIsPresenter(t *testing.T) {
	r, err := ParseRole("organizer")
	if err != nil || r != RolePresenter {
		t.Fatalf("ParseRole(organizer) = %q, %v", r, err)
	}
}

// TestAuthMatrix runs every route this package registers (except the open ops routes)
// against every kind of credential.
func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, []byte("ciphertext"))
	past, _ := NewAuthority(testSecret)
	past.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, _, _ := past.Mint(TokenSpec{Role: RoleAdmin, TTL: time.Hour})
	foreign, _ := NewAuthority(bytes.Repeat([]byte{9}, 32))
	badSig, _, _ := foreign.Mint(TokenSpec{Role: RoleAdmin, TTL: time.Hour})

	contentPath := ContentPath(testOrg, testConf, testName)
	mintBody := `{"role":"attendee","conference":"` + testConf + `"}`
	type route struct {
		method, path, body string
	}
	routes := []route{
		{http.MethodGet, contentPath, ""},
		{http.MethodHead, contentPath, ""},
		{http.MethodGet, "/v1/token", ""},
		{http.MethodPost, "/v1/tokens", mintBody},
	}
	creds := []struct {
		name   string
		header map[string]string
		want   map[string]int // by method+path; missing means the default below
		def    int
	}{
		{"no token", nil, nil, 401},
		{"not bearer", map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}, nil, 401},
		{"expired", bearer(expired), nil, 401},
		{"bad signature", bearer(badSig), nil, 401},
		{"global admin", bearer(e.token(RoleAdmin, "")), map[string]int{"POST /v1/tokens": 201}, 200},
		{"presenter", bearer(e.token(RolePresenter, testConf)), map[string]int{"POST /v1/tokens": 201}, 200},
		{"attendee", bearer(e.token(RoleAttendee, testConf)), map[string]int{"POST /v1/tokens": 403}, 200},
		{"other conference attendee", bearer(e.token(RoleAttendee, "conf-2")),
			map[string]int{"GET /v1/token": 200}, 403},
		{"other conference admin", bearer(e.token(RoleAdmin, "conf-2")),
			map[string]int{"GET /v1/token": 200}, 403},
	}
	for _, cr := range creds {
		for _, rt := range routes {
			t.Run(cr.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				want := cr.def
				if w, ok := cr.want[rt.method+" "+rt.path]; ok {
					want = w
				}
				h := map[string]string{"Content-Type": "application/json"}
				for k, v := range cr.header {
					h[k] = v
				}
				var body *strings.Reader
				if rt.body != "" {
					body = strings.NewReader(rt.body)
				} else {
					body = strings.NewReader("")
				}
				r := e.do(rt.method, rt.path, h, body)
				if r.status != want {
					t.Fatalf("status %d, want %d (body %s)", r.status, want, r.body)
				}
				if want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("401 without a Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
				}
				if want >= 400 && rt.method != http.MethodHead {
					code := map[int]Code{401: CodeUnauthenticated, 403: CodeForbidden}[want]
					wantError(t, r, want, code)
				}
			})
		}
	}
	for _, cr := range creds {
		tok := strings.TrimPrefix(cr.header["Authorization"], "Bearer ")
		if tok != "" && strings.Contains(e.logs.String(), tok) {
			t.Fatalf("the %s token reached the log", cr.name)
		}
	}
}

func TestSignedURL(t *testing.T) {
	e := newEnv(t)
	e.put("content/"+testOrg+"/"+testConf+"/"+testName, []byte("ciphertext"))
	path := ContentPath(testOrg, testConf, testName)
	otherPath := ContentPath(testOrg, testConf, "x00000000000000000000000000000000.epng")
	e.put("content/"+testOrg+"/"+testConf+"/x00000000000000000000000000000000.epng", []byte("other"))

	valid := e.api.SignedContentURL(testOrg, testConf, testName, time.Minute)
	q := e.auth.SignPath(http.MethodGet, path, time.Now().Add(-time.Minute))
	expiredURL := path + "?" + q.Encode()
	u, _ := url.Parse(valid)
	vq := u.Query()
	laterExp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	tamperedExp := path + "?" + url.Values{"exp": {laterExp}, "sig": vq["sig"]}.Encode()
	sig, err := base64.RawURLEncoding.DecodeString(vq.Get("sig"))
	if err != nil {
		t.Fatal(err)
	}
	sig[3] ^= 1
	tamperedSig := path + "?" + url.Values{"exp": vq["exp"], "sig": {base64.RawURLEncoding.EncodeToString(sig)}}.Encode()
	otherFile := otherPath + "?" + vq.Encode()
	postSigned := path + "?" + e.auth.SignPath(http.MethodPost, path, time.Now().Add(time.Minute)).Encode()

	tests := []struct {
		name, method, url string
		want              int
	}{
		{"valid GET", http.MethodGet, valid, 200},
		{"valid HEAD", http.MethodHead, valid, 200},
		{"expired", http.MethodGet, expiredURL, 401},
		{"expiry moved", http.MethodGet, tamperedExp, 401},
		{"signature changed", http.MethodGet, tamperedSig, 401},
		{"other file", http.MethodGet, otherFile, 401},
		{"signed for another method", http.MethodGet, postSigned, 401},
		{"sig without exp", http.MethodGet, path + "?sig=" + vq.Get("sig"), 401},
		{"exp twice", http.MethodGet, valid + "&exp=" + laterExp, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.url, nil, nil)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == 200 && tt.method == http.MethodGet && string(r.body) != "ciphertext" {
				t.Fatalf("body %q", r.body)
			}
			if tt.want == 401 {
				wantError(t, r, 401, CodeUnauthenticated)
			}
		})
	}
	if strings.Contains(e.logs.String(), vq.Get("sig")) {
		t.Fatal("a URL signature reached the log")
	}
}

func TestMintTokenRoute(t *testing.T) {
	e := newEnv(t)
	presenter := e.token(RolePresenter, testConf)
	tests := []struct {
		name, token, body string
		status            int
		code              Code
	}{
		{"presenter mints attendee", presenter, `{"role":"attendee","conference":"conf-1","subject":"bob"}`, 201, ""},
		{"presenter mints organizer", presenter, `{"role":"organizer","conference":"conf-1"}`, 201, ""},
		{"presenter cannot mint admin", presenter, `{"role":"admin","conference":"conf-1"}`, 403, CodeForbidden},
		{"presenter cannot mint elsewhere", presenter, `{"role":"attendee","conference":"conf-2"}`, 403, CodeForbidden},
		{"presenter cannot mint global", presenter, `{"role":"attendee"}`, 403, CodeForbidden},
		{"unknown role", presenter, `{"role":"root","conference":"conf-1"}`, 400, CodeBadRequest},
		{"bad conference id", e.token(RoleAdmin, ""), `{"role":"attendee","conference":"../x"}`, 400, CodeInvalidID},
		{"admin needs scope for attendee", e.token(RoleAdmin, ""), `{"role":"attendee"}`, 400, CodeBadRequest},
		{"negative ttl", presenter, `{"role":"attendee","conference":"conf-1","ttl_seconds":-5}`, 400, CodeBadRequest},
		{"zero ttl", presenter, `{"role":"attendee","conference":"conf-1","ttl_seconds":0}`, 400, CodeBadRequest},
		{"ttl over the maximum", e.token(RoleAdmin, ""), `{"role":"attendee","conference":"conf-1","ttl_seconds":31622401}`, 400, CodeBadRequest},
		{"malformed JSON", presenter, `{"role":`, 400, CodeInvalidJSON},
		{"wrong type", presenter, `{"role":5}`, 400, CodeInvalidJSON},
		{"unknown field", presenter, `{"role":"attendee","conference":"conf-1","x":1}`, 400, CodeInvalidJSON},
		{"trailing data", presenter, `{"role":"attendee","conference":"conf-1"} {}`, 400, CodeInvalidJSON},
		{"empty body", presenter, ``, 400, CodeInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bearer(tt.token)
			h["Content-Type"] = "application/json"
			r := e.do(http.MethodPost, "/v1/tokens", h, strings.NewReader(tt.body))
			if tt.code != "" {
				wantError(t, r, tt.status, tt.code)
				return
			}
			if r.status != tt.status {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var tr TokenResponse
			if err := json.Unmarshal(r.body, &tr); err != nil {
				t.Fatal(err)
			}
			got, err := e.auth.Verify(tr.Token)
			if err != nil {
				t.Fatal(err)
			}
			if got.Conference != testConf || got.ID != tr.ID {
				t.Fatalf("minted %+v, answered %+v", got, tr.TokenInfo)
			}
			// A minted token never outlives the presenter token that minted it.
			if got.ExpiresAt.After(time.Now().Add(time.Hour + time.Minute)) {
				t.Fatalf("minted token expires %v, after its minter", got.ExpiresAt)
			}
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		h := bearer(presenter)
		h["Content-Type"] = "text/plain"
		r := e.do(http.MethodPost, "/v1/tokens", h, strings.NewReader(`{"role":"attendee","conference":"conf-1"}`))
		wantError(t, r, 415, CodeUnsupportedMedia)
	})
}

// TestMintTokenNearCallerExpiry: what is left of the minting token is reckoned on the
// server's clock, and a token past its expiry (still inside Verify's leeway, so let
// through the middleware) is told so, 401, rather than asked for an impossible lifetime.
func TestMintTokenNearCallerExpiry(t *testing.T) {
	const skew = time.Hour // the server's clock runs ahead of this machine's
	tests := []struct {
		name      string
		serverNow func() time.Time
		issued    time.Duration // caller token issued this far from the server's now
		ttl       time.Duration // its lifetime
		body      string
		status    int
	}{
		{"caller in leeway", time.Now, -3 * time.Second, time.Second, `{"role":"attendee","conference":"conf-1"}`, 401},
		{"caller expiring now", time.Now, -time.Hour, time.Hour, `{"role":"attendee","conference":"conf-1"}`, 401},
		{"server clock ahead", func() time.Time { return time.Now().Add(skew) }, 0, 2 * time.Hour,
			`{"role":"attendee","conference":"conf-1","ttl_seconds":9000}`, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Auth = c.Auth.WithClock(tt.serverNow) })
			minter := e.api.Authority().WithClock(func() time.Time { return tt.serverNow().Add(tt.issued) })
			tok, caller, err := minter.Mint(TokenSpec{Role: RolePresenter, Conference: testConf, TTL: tt.ttl})
			if err != nil {
				t.Fatal(err)
			}
			h := bearer(tok)
			h["Content-Type"] = "application/json"
			r := e.do(http.MethodPost, "/v1/tokens", h, strings.NewReader(tt.body))
			if tt.status != 201 {
				wantError(t, r, tt.status, CodeUnauthenticated)
				if !strings.Contains(string(r.body), "token expired") {
					t.Fatalf("body %s, want token expired", r.body)
				}
				return
			}
			if r.status != tt.status {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var tr TokenResponse
			if err := json.Unmarshal(r.body, &tr); err != nil {
				t.Fatal(err)
			}
			if tr.ExpiresAt.After(caller.ExpiresAt.Time) {
				t.Fatalf("minted token expires %v, after its minter (%v)", tr.ExpiresAt, caller.ExpiresAt.Time)
			}
		})
	}
}
