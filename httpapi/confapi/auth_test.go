package confapi_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi"
)

// route is one conferencing route and the least role that may use it.
type route struct {
	method, path string
	min          httpapi.Role
}

var routesUnderTest = []route{
	{"POST", "/v1/conferences", httpapi.RoleAdmin},
	{"GET", "/v1/conferences", httpapi.RoleAdmin},
	{"GET", "/v1/conferences/:conf", httpapi.RoleAttendee},
	{"DELETE", "/v1/conferences/:conf", httpapi.RoleAdmin},
	{"POST", "/v1/conferences/:conf/end", httpapi.RolePresenter},
	{"GET", "/v1/conferences/:conf/slidesets", httpapi.RoleAttendee},
	{"POST", "/v1/conferences/:conf/slidesets", httpapi.RolePresenter},
	{"GET", "/v1/conferences/:conf/slidesets/:set", httpapi.RoleAttendee},
	{"GET", "/v1/conferences/:conf/slidesets/:set/xml", httpapi.RoleAttendee},
	{"PUT", "/v1/conferences/:conf/slidesets/:set/xml", httpapi.RolePresenter},
	{"PATCH", "/v1/conferences/:conf/slidesets/:set", httpapi.RolePresenter},
	{"DELETE", "/v1/conferences/:conf/slidesets/:set", httpapi.RolePresenter},
	{"PUT", "/v1/conferences/:conf/slidesets/:set/order", httpapi.RolePresenter},
	{"POST", "/v1/conferences/:conf/slidesets/:set/slides", httpapi.RolePresenter},
	{"GET", "/v1/conferences/:conf/slidesets/:set/slides/:slide", httpapi.RoleAttendee},
	{"PUT", "/v1/conferences/:conf/slidesets/:set/slides/:slide", httpapi.RolePresenter},
	{"DELETE", "/v1/conferences/:conf/slidesets/:set/slides/:slide", httpapi.RolePresenter},
	{"POST", "/v1/conferences/:conf/slidesets/:set/slides/:slide/move", httpapi.RolePresenter},
	{"POST", "/v1/conferences/:conf/slidesets/:set/slides/:slide/annotations", httpapi.RoleAttendee},
	{"GET", "/v1/conferences/:conf/handouts", httpapi.RoleAttendee},
	{"POST", "/v1/conferences/:conf/handouts", httpapi.RolePresenter},
	{"GET", "/v1/conferences/:conf/handouts/:handout", httpapi.RoleAttendee},
	{"DELETE", "/v1/conferences/:conf/handouts/:handout", httpapi.RolePresenter},
	{"GET", "/v1/conferences/:conf/content", httpapi.RolePresenter},
	{"DELETE", "/v1/conferences/:conf/content/:name", httpapi.RolePresenter},
	{"GET", "/v1/conferences/:conf/content/:name/plain", httpapi.RoleAttendee},
	{"POST", "/v1/conferences/:conf/content/:name/signed-url", httpapi.RoleAttendee},
	{"GET", "/v1/conferences/:conf/events", httpapi.RoleAttendee},
}

var rank = map[httpapi.Role]int{httpapi.RoleAttendee: 1, httpapi.RolePresenter: 2, httpapi.RoleAdmin: 3}

func fill(path, conf string) string {
	return strings.NewReplacer(":conf", conf, ":set", "aaa", ":slide", "1", ":handout", "aaa",
		":name", "x0123456789abcdef0123456789abcdef.epng").Replace(path)
}

// TestRoutesAreAllUnderTest fails when a conferencing route is added without a row
// in the auth matrix.
func TestRoutesAreAllUnderTest(t *testing.T) {
	e := newEnv(t)
	registered := map[string]bool{}
	for _, r := range routesUnderTest {
		registered[r.method+" "+r.path] = true
	}
	for _, ri := range e.server.Engine().Routes() {
		if strings.HasPrefix(ri.Path, "/v1/conferences") && !registered[ri.Method+" "+ri.Path] {
			t.Errorf("route %s %s has no row in the auth matrix", ri.Method, ri.Path)
		}
	}
}

func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	e.conference("alpha")
	e.conference("beta")
	type caller struct {
		name  string
		token string
		role  httpapi.Role // zero: not authenticated
		other bool         // scoped to another conference
	}
	callers := []caller{
		{"no token", "", "", false},
		{"garbage token", "not-a-jwt", "", false},
		{"expired presenter", e.expiredToken(httpapi.RolePresenter, "alpha"), "", false},
		{"expired admin", e.expiredToken(httpapi.RoleAdmin, ""), "", false},
		{"attendee", e.token(httpapi.RoleAttendee, "alpha"), httpapi.RoleAttendee, false},
		{"presenter", e.token(httpapi.RolePresenter, "alpha"), httpapi.RolePresenter, false},
		{"presenter of beta", e.token(httpapi.RolePresenter, "beta"), httpapi.RolePresenter, true},
		{"admin of beta", e.token(httpapi.RoleAdmin, "beta"), httpapi.RoleAdmin, true},
	}
	for _, r := range routesUnderTest {
		for _, c := range callers {
			t.Run(r.method+" "+r.path+"/"+c.name, func(t *testing.T) {
				path := fill(r.path, "alpha")
				global := !strings.Contains(r.path, ":conf")
				var want []int
				switch {
				case c.role == "":
					want = []int{401}
				case c.other, global, rank[c.role] < rank[r.min]:
					// Every caller here is scoped to a conference; global routes need
					// a global admin.
					want = []int{403}
				}
				if want == nil {
					return // allowed: the walkthrough checks what allowed callers get
				}
				got := e.do(r.method, path, c.token, "application/json", "{}")
				if got.status != want[0] {
					t.Fatalf("%s %s as %s: %d, want %d: %s", r.method, path, c.name, got.status, want[0], got.body)
				}
				if got.code() == "" {
					t.Fatalf("error without the JSON error shape: %s", got.body)
				}
				if got.status == 401 && got.header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			})
		}
	}
}

// TestTokenOfAnEarlierConferenceOfTheSameID: tokens are scoped by conference id, and
// an id is free again once its conference is deleted. A token minted for the deleted
// conference must not open the new one that took its id (another organizer's, with
// other participants): every conference route refuses a token issued before the
// conference was created.
func TestTokenOfAnEarlierConferenceOfTheSameID(t *testing.T) {
	// The first conference and its token are from ten minutes ago; the id is taken
	// again now.
	var mu sync.Mutex
	offset := -10 * time.Minute
	e := newEnvWithClock(t, func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) })
	e.conference("reuse")
	past := e.auth.WithClock(func() time.Time { return time.Now().Add(-10 * time.Minute) })
	old, _, err := past.Mint(httpapi.TokenSpec{Role: httpapi.RoleAdmin, Conference: "reuse", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.must(200, e.do("GET", "/v1/conferences/reuse", old, "", nil)) // the conference it was minted for
	e.must(204, e.do("DELETE", "/v1/conferences/reuse", e.token(httpapi.RoleAdmin, ""), "", nil))
	mu.Lock()
	offset = 0
	mu.Unlock()
	e.conference("reuse")

	for _, r := range routesUnderTest {
		if !strings.Contains(r.path, ":conf") {
			continue
		}
		got := e.do(r.method, fill(r.path, "reuse"), old, "application/json", "{}")
		if got.status != 403 || got.code() != "forbidden" {
			t.Errorf("%s %s with a token of the earlier conference: %d %s", r.method, r.path, got.status, got.body)
		}
	}
	// Nor can the old token launder itself through POST /v1/tokens: what it mints
	// carries its scope's start, not a fresh one.
	var minted httpapi.TokenResponse
	e.must(201, e.do("POST", "/v1/tokens", old, "", map[string]string{"role": "attendee", "conference": "reuse"})).json(t, &minted)
	if got := e.do("GET", "/v1/conferences/reuse", minted.Token, "", nil); got.status != 403 {
		t.Errorf("a token minted by a token of the earlier conference: %d %s", got.status, got.body)
	}
	// A token minted for the new conference works.
	e.must(200, e.do("GET", "/v1/conferences/reuse", e.token(httpapi.RoleAttendee, "reuse"), "", nil))
}
