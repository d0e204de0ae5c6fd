package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/confapi"
	"github.com/lectern/lectern/stream"
)

func init() { extensionFactories = append(extensionFactories, engineExtension) }

// sweepEvery is how often the conferencing role runs the retention sweep, the first
// time firstSweepAfter after start (a variable for tests).
const sweepEvery = time.Hour

var firstSweepAfter = time.Minute

// engineExtension hosts the conference engine, its routes and the tus upload stream
// in the all and conferencing roles; the components role serves ciphertext only and
// needs neither the engine nor the KEK.
func engineExtension(ctx context.Context, rt *Runtime) (Extension, error) {
	if httpapi.ServerRole(rt.Config.Role) == httpapi.ServeComponents {
		return Extension{}, nil
	}
	if len(rt.KEK) != 32 {
		return Extension{}, fmt.Errorf("the key-encryption key must be 32 bytes, it is %d", len(rt.KEK))
	}
	var kek [32]byte
	copy(kek[:], rt.KEK)
	previous := map[string][32]byte{}
	var previousUploadKeys [][stream.UploadKeySize]byte
	for id, k := range rt.PreviousKEKs {
		previous[id] = [32]byte(k)
		uk, err := stream.DeriveUploadKey(k)
		if err != nil {
			return Extension{}, err
		}
		previousUploadKeys = append(previousUploadKeys, uk)
	}
	hub := events.NewHub(1024)
	hub.SetLimits(events.Limits{PerKey: rt.Config.Limits.MaxStreamsPerToken, PerConference: rt.Config.Limits.MaxStreamsPerConference})
	eng, err := conference.New(conference.Config{
		Bucket: rt.Storage, KEK: kek, KEKID: rt.KEKID, PreviousKEKs: previous,
		Limits:           engineLimits(rt.Config.Limits),
		SnapshotInterval: time.Duration(rt.Config.SnapshotInterval),
		Retention:        engineRetention(rt.Config.Retention),
		Events:           hub,
		Logger:           rt.Logger.With("part", "engine"),
	})
	if err != nil {
		return Extension{}, err
	}
	uploadKey, err := stream.DeriveUploadKey(kek[:])
	if err != nil {
		return Extension{}, err
	}
	uploads, err := stream.New(stream.Config{Engine: eng, Bucket: rt.Storage, UploadKey: uploadKey,
		PreviousUploadKeys: previousUploadKeys, MaxOpenUploads: rt.Config.Limits.MaxOpenUploads,
		Logger: rt.Logger.With("part", "uploads")})
	if err != nil {
		return Extension{}, err
	}
	streamsDone := make(chan struct{})
	endStreams := sync.OnceFunc(func() { close(streamsDone) })
	conferencing := confapi.Routes(confapi.Config{Engine: eng, Events: hub, Done: streamsDone})
	uploadRoutes := uploads.Routes()
	sweepCtx, stopSweeps := context.WithCancel(context.WithoutCancel(ctx))
	sm, err := newSweepMetrics(rt.Metrics)
	if err != nil {
		stopSweeps()
		return Extension{}, fmt.Errorf("sweep metrics: %w", err)
	}
	// The loops are waited for at shutdown: a sweep cut short still gives its
	// clean-up lease back (otherwise the other servers of the pool stand aside until
	// it expires), and none of them may use the engine after it closed.
	var loops sync.WaitGroup
	loops.Go(func() { sweepLoop(sweepCtx, rt, eng, sm) })
	loops.Go(func() { idleLoop(sweepCtx, rt, eng, time.Duration(rt.Config.IdleClose)) })
	if len(previous) > 0 {
		loops.Go(func() { rewrap(sweepCtx, rt, eng) })
	}
	return Extension{
		Name: "engine",
		Routes: func(s *httpapi.Server, api *gin.RouterGroup) {
			conferencing(s, api)
			uploadRoutes(s, api)
		},
		ErrorRules: confapi.ErrorRules(),
		OnShutdownStart: func() {
			stopSweeps()
			endStreams()
		},
		Shutdown: func(ctx context.Context) error {
			stopSweeps() // also when the server never started serving
			// The wait gets at most half of the shutdown's time (and loopStopWait), so
			// that loops stuck on a hung storage still leave the flush its share.
			wait := loopStopWait
			if deadline, ok := ctx.Deadline(); ok {
				wait = min(wait, time.Until(deadline)/2)
			}
			wctx, cancel := context.WithTimeout(ctx, wait)
			waitErr := waitGroup(wctx, &loops)
			cancel()
			if waitErr != nil {
				waitErr = fmt.Errorf("the sweep and idle loops did not stop within %v: %w", wait.Round(time.Millisecond), waitErr)
			}
			return errors.Join(waitErr, eng.Close(ctx))
		},
	}, nil
}

func sweepLoop(ctx context.Context, rt *Runtime, eng *conference.Engine, m *sweepMetrics) {
	every(ctx, firstSweepAfter, sweepEvery, func() { sweepOnce(ctx, rt, eng, m) })
}

// sweepOnce runs the retention sweep, logs what it did and counts it.
func sweepOnce(ctx context.Context, rt *Runtime, eng *conference.Engine, m *sweepMetrics) {
	rep, err := eng.Sweep(ctx)
	m.observe(rep, err)
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		rt.Logger.Warn("retention sweep failed", "err", err)
	case !rep.Skipped && (len(rep.ConferencesRemoved) > 0 || len(rep.UnfinishedRemoved) > 0 || rep.OrphansRemoved > 0 || rep.UploadsRemoved > 0 || rep.LeftoversRemoved > 0):
		rt.Logger.Info("retention sweep", "conferences_removed", len(rep.ConferencesRemoved),
			"unfinished_conferences_removed", len(rep.UnfinishedRemoved),
			"orphans_removed", rep.OrphansRemoved, "uploads_removed", rep.UploadsRemoved,
			"leftovers_removed", rep.LeftoversRemoved)
	}
}

// idleLoop closes the conferences no request used for idle, checking every quarter
// of it (at most every minute).
func idleLoop(ctx context.Context, rt *Runtime, eng *conference.Engine, idle time.Duration) {
	check := min(idle/4, time.Minute)
	every(ctx, check, check, func() {
		if _, err := eng.CloseIdle(ctx, idle); err != nil && !errors.Is(err, context.Canceled) {
			rt.Logger.Warn("closing idle conferences", "err", err)
		}
	})
}

// rewrap moves every conference to the current KEK after a rotation (see
// docs/operations.md); it runs once at start and logs what it did, so that the
// operator knows when the previous KEKs can be removed.
func rewrap(ctx context.Context, rt *Runtime, eng *conference.Engine) {
	rep, err := eng.RewrapConferences(ctx)
	if err != nil {
		rt.Logger.Warn("rewrapping conferences to the current KEK: some failed; restart to retry", "kek", rt.KEKID,
			"rewrapped", len(rep.Rewrapped), "err", err)
		return
	}
	rt.Logger.Info("every conference is wrapped with the current KEK; the previous KEKs may be removed once unfinished uploads have expired",
		"kek", rt.KEKID, "rewrapped", len(rep.Rewrapped), "already_current", rep.Current)
}

// loopStopWait bounds the shutdown's wait for the background loops: a cancelled
// sweep ends at its next storage call, then gives its lease back, which the backend's
// own request timeout bounds (the release has no deadline of its own).
const loopStopWait = 15 * time.Second

// waitGroup waits for wg until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// every runs fn first after first, then interval after each run ends, until ctx ends.
func every(ctx context.Context, first, interval time.Duration, fn func()) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
		t.Reset(interval)
	}
}

func engineLimits(l Limits) conference.Limits {
	d := conference.DefaultLimits()
	set := func(dst *int64, v ByteSize) {
		if v > 0 {
			*dst = int64(v)
		}
	}
	set(&d.MaxContentFile, l.MaxFileSize)
	set(&d.MaxHandoutFile, l.MaxHandoutSize)
	set(&d.MaxConferenceContent, l.MaxConferenceContent)
	set(&d.MaxConferenceHandouts, l.MaxConferenceHandouts)
	if l.MaxContentFiles > 0 {
		d.MaxContentFiles = l.MaxContentFiles
	}
	if l.MaxHandouts > 0 {
		d.MaxHandoutFiles = l.MaxHandouts
	}
	return d
}

// engineRetention passes the configured retention on as is: loadConfig has already
// filled the defaults and checked the ranges, and a grace of 0 is a valid setting
// (delete right at expiry), not "unset".
func engineRetention(r Retention) conference.Retention {
	d := conference.DefaultRetention()
	d.DefaultExpiry = time.Duration(r.Expiry)
	d.Grace = time.Duration(r.Grace)
	return d
}
