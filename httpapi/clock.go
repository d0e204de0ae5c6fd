package httpapi

import "time"

// WithClock returns a copy of the Authority that reads time from now: tokens it
// mints are issued and expire relative to that clock. Tests outside this package use
// it to mint tokens that have already expired.
func (a *Authority) WithClock(now func() time.Time) *Authority {
	c := *a
	c.now = now
	return &c
}
