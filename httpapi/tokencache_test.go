package httpapi

import (
	"errors"
	"testing"
	"time"
)

// The verified-token cache must not change any answer of Verify: a token verified
// once still expires, still counts as issued in the future for a clock behind it, and
// a caller that changes the claims it got does not change what the next caller gets.
func TestVerifyCacheKeepsTimeChecks(t *testing.T) {
	base := time.Now()
	at := func(d time.Duration) func() time.Time { return func() time.Time { return base.Add(d) } }
	a, err := NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	a = a.WithClock(at(0))
	tok, _, err := a.Mint(TokenSpec{Role: RoleAttendee, Conference: testConf, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Verify(tok) // fills the cache
	if err != nil {
		t.Fatal(err)
	}
	first.Role = RoleAdmin
	first.Conference = ""

	tests := []struct {
		name  string
		clock time.Duration
		want  error
	}{
		{"cached, valid", 10 * time.Second, nil},
		{"within the leeway after expiry", time.Minute + clockLeeway/2, nil},
		{"expired", time.Minute + clockLeeway + time.Second, ErrTokenExpired},
		{"issued in the future for this clock", -time.Hour, ErrTokenInvalid},
		{"valid again at its own time", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.WithClock(at(tt.clock)).Verify(tok)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Role != RoleAttendee || got.Conference != testConf {
				t.Fatalf("claims changed through an earlier caller's copy: %+v", got)
			}
		})
	}
}

func TestVerifiedTokensStayBounded(t *testing.T) {
	a, err := NewAuthority(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	a.verified = newVerifiedTokens(8)
	var last string
	for range 20 {
		tok, _, err := a.Mint(TokenSpec{Role: RoleAdmin, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Verify(tok); err != nil {
			t.Fatal(err)
		}
		if n := len(a.verified.entries); n > 8 {
			t.Fatalf("cache holds %d tokens, bound 8", n)
		}
		last = tok
	}
	if _, ok := a.verified.get(last, time.Now()); !ok {
		t.Fatal("the token verified last is not cached")
	}
	// Failures are never cached.
	if _, err := a.Verify("not-a-token"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatal(err)
	}
	if _, ok := a.verified.get("not-a-token", time.Now()); ok {
		t.Fatal("an invalid token was cached")
	}
}
