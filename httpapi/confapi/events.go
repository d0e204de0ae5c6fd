package confapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/httpapi"
)

// events streams a conference's events as Server-Sent Events. A client that
// reconnects with Last-Event-ID (header, or the last_event_id query parameter for
// clients that cannot set headers) is first sent what it missed; if that is no
// longer available it gets a "reset" event and should reload the conference. Events
// meant for presenters (content.ready, which carries a key) reach only presenters.
// A client that reads so slowly that its next event leaves the hub's replay buffer
// gets a reset and the stream ends. The streams of one token, and of one conference,
// are capped by the hub (429 too_many_requests with Retry-After).
// The stream ends when its token would no longer be accepted (its expiry plus the
// verifier's leeway), with a "token.expired" event first: the token is checked only
// when the stream opens, and a stream kept alive by heartbeats must not outlive it.
// A client that stops reading is dropped: every write must be taken within
// stallHeartbeats heartbeats, or it fails and the handler returns. Otherwise its
// handler would stay blocked in a write for as long as the connection lives, past
// the token's expiry, holding its place under the hub's caps (it is freed when the
// handler returns, not when the subscription lags).
func (r *routes) events(c *gin.Context) {
	conf := c.Param("conf")
	info, err := r.cfg.Engine.GetConference(c.Request.Context(), conf)
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	// An id this server cannot resume from (another server's, one from before a
	// restart, nonsense) is not an error: the client gets a reset and reloads.
	last := c.GetHeader("Last-Event-ID")
	if last == "" {
		last = c.Query("last_event_id")
	}
	presenter := false
	key := ""                    // the token's id: the hub caps the streams of one token
	var expired <-chan time.Time // nil (never) for a request without a token
	if cl := httpapi.ClaimsOf(c); cl != nil {
		presenter = cl.Allows(httpapi.RolePresenter, conf)
		key = cl.ID
		t := time.NewTimer(r.s.Authority().TimeLeft(cl))
		defer t.Stop()
		expired = t.C
	}

	sub, err := r.cfg.Events.Subscribe(conf, key, last)
	reset := errors.Is(err, events.ErrGap)
	if reset {
		sub, err = r.cfg.Events.Subscribe(conf, key, "")
	}
	if errors.Is(err, events.ErrLimit) {
		httpapi.Fail(c, &httpapi.Error{Code: httpapi.CodeTooManyRequests, Message: err.Error(),
			RetryAfter: streamRetryAfter, Err: err})
		return
	}
	if err != nil {
		httpapi.Fail(c, err)
		return
	}
	defer sub.Close()
	// A delete that ended between the look above and Subscribe has already ended
	// the conference's subscriptions (events.Hub.Forget), and this one would never
	// end, then carry the events of a conference created later with the same id. A
	// delete that ends from here on ends this subscription too.
	if now, err := r.cfg.Engine.GetConference(c.Request.Context(), conf); err != nil || !now.Created.Equal(info.Created) {
		if err == nil {
			err = fmt.Errorf("conference %q: %w", conf, conference.ErrNotFound)
		}
		httpapi.Fail(c, err)
		return
	}

	w := &deadlineWriter{ResponseWriter: c.Writer, rc: http.NewResponseController(c.Writer),
		stall: stallHeartbeats * r.cfg.Heartbeat}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	if reset {
		// The reset has the id of the last event before the stream, so that the
		// browser's next reconnect sends it instead of the stale one: after a reload
		// the client misses nothing from here on.
		writeReset(w, sub.Start, "events since Last-Event-ID are no longer available; reload")
	} else {
		w.Flush()
	}

	heartbeat := time.NewTicker(r.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		// The expiry goes first, so that no event pending at the same moment slips
		// out after it.
		select {
		case <-expired:
			endExpired(w)
			return
		default:
		}
		select {
		case <-c.Request.Context().Done():
			return
		case <-r.cfg.Done:
			return // shutting down: the client reconnects to another instance or later
		case <-expired:
			endExpired(w)
			return
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			w.Flush()
		case <-sub.Ready():
			for {
				ev, ok := sub.Next()
				if !ok {
					break
				}
				if ev.Audience == events.Presenters && !presenter {
					continue
				}
				data, err := json.Marshal(ev)
				if err != nil {
					continue
				}
				if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Kind, data); err != nil {
					return
				}
			}
			if sub.Lagged() {
				// The client read so slowly that its next event left the replay
				// buffer. It reloads and resumes from the reset's id (the latest
				// event's), so it misses nothing.
				writeReset(w, sub.ResetID(), "the stream fell too far behind; reload")
				return
			}
			w.Flush()
			if sub.Ended() {
				return // the conference was deleted
			}
		}
	}
}

// stallHeartbeats is how many heartbeats long a client may take to accept one write of
// its event stream: a client that reads keeps up with heartbeats easily, and one that
// stops reading is dropped soon after its buffers fill.
const stallHeartbeats = 3

// deadlineWriter moves the connection's write deadline stall ahead before each write
// and flush, as httpapi's StallGuard does for downloads; the stream has its own
// because its bound follows the heartbeat, not the download timeout. A write that
// fails at the deadline breaks the connection, and net/http closes it (crypto/tls
// then gives its close_notify up to 5 s more).
type deadlineWriter struct {
	gin.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (w *deadlineWriter) arm() {
	// ErrNotSupported (a test recorder) leaves nothing to bound; a connection
	// already gone fails the write that follows.
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.stall))
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) WriteString(s string) (int, error) {
	w.arm()
	return w.ResponseWriter.WriteString(s)
}

func (w *deadlineWriter) Flush() {
	w.arm()
	w.ResponseWriter.Flush()
}

// streamRetryAfter is the Retry-After of a stream refused for a limit: streams end
// when their clients leave, so a place is likely free soon.
const streamRetryAfter = 10 * time.Second

// writeReset tells the client to reload; the reset has the id to resume from after
// the reload.
func writeReset(w gin.ResponseWriter, id, reason string) {
	data, _ := json.Marshal(map[string]string{"reason": reason}) // a map of strings always marshals
	fmt.Fprintf(w, "id: %s\nevent: reset\ndata: %s\n\n", id, data)
	w.Flush()
}

// endExpired tells the client why its stream ends (it has no id: it is not one of the
// conference's events, and Last-Event-ID stays at the last one that was).
func endExpired(w gin.ResponseWriter) {
	fmt.Fprint(w, "event: token.expired\ndata: {\"reason\":\"the token has expired; reconnect with a fresh one\"}\n\n")
	w.Flush()
}
