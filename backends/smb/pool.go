package smb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/lectern/lectern/core/storage"
)

// smb311 is the SMB 3.1.1 dialect code ([MS-SMB2] 2.2.3); go-smb2 keeps its constants
// internal.
const smb311 = 0x0311

// maxCredits lets one session keep up to 512 credits, so 32 requests of 1 MiB (16
// credits each) can be in flight; go-smb2's default of 128 allows only 8.
const maxCredits = 512

const (
	dialTimeout   = 15 * time.Second
	logoffTimeout = 2 * time.Second
	// DefaultTimeout is how long a request may go without any answer from the server
	// before its connection is given up (Config.Timeout). Longer than the 35 s a
	// Windows server gives another client to acknowledge an oplock or lease break,
	// during which it answers a CREATE only with an interim reply: a server that
	// waits for a slow client is not a hung server.
	DefaultTimeout = 45 * time.Second
)

// conn is one SMB session (one TCP connection) with the share mounted on it. A conn is
// used by one operation at a time; that operation may have many requests in flight on
// it.
type conn struct {
	tcp   *watchedConn
	sess  *smb2.Session
	share *smb2.Share
	// reused is true when the conn came from the idle list rather than a fresh dial:
	// its server may have gone away while it sat there.
	reused bool
}

func (c *conn) on(ctx context.Context) *smb2.Share { return c.share.WithContext(ctx) }

// pool holds idle connections and dials new ones. It is written here because go-smb2
// has none: a Session is one TCP connection whose failure is final.
//
// A connection that saw a transport error, a lost session or an abandoned
// (cancelled) request is closed, never reused; so after a server restart the next
// operation dials afresh. A read, or a put that has not begun sending its data, whose
// connection the server closed tries once more on a fresh one (onceMoreIfClosed); any
// other operation fails as unavailable at worst.
type pool struct {
	cfg     *Config
	maxIdle int

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

func newPool(cfg *Config) *pool {
	return &pool{cfg: cfg, maxIdle: max(cfg.MaxIdle, 1)}
}

func (p *pool) get(ctx context.Context) (*conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, storage.NewError(storage.ErrClosed, "connect", "", nil)
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if c.tcp.dead.Load() {
			go c.close()
			continue
		}
		p.mu.Unlock()
		c.reused = true
		c.tcp.engage()
		return c, nil
	}
	p.mu.Unlock()
	c, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.tcp.engage()
	return c, nil
}

// put gives c back after an operation that ended with err: c is kept only if err says
// nothing about the connection.
func (p *pool) put(c *conn, err error) {
	if c == nil {
		return
	}
	c.tcp.disengage()
	if err != nil && (isConnectionLost(err) || isContext(err) || hasStatus(err, statusInvalidHandle)) || c.tcp.dead.Load() {
		p.discard(c)
		return
	}
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		go c.close()
		return
	}
	c.reused = false
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// discard closes c, and with it every idle connection: when one connection to a
// server dies the others usually died with it (a restart), and handing them out would
// only fail the next operations too.
func (p *pool) discard(c *conn) {
	c.tcp.Close()
	p.mu.Lock()
	stale := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, s := range stale {
		// They may be fine (a cancelled request says nothing about the others): an Echo
		// tells, and costs one round trip only here, not on every operation.
		go func(s *conn) {
			ctx, cancel := context.WithTimeout(context.Background(), logoffTimeout)
			defer cancel()
			if s.sess.WithContext(ctx).Echo() != nil {
				s.tcp.Close()
				return
			}
			s.tcp.engage() // as if got: put disengages
			p.put(s, nil)
		}(s)
	}
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range idle {
		wg.Add(1)
		go func() { defer wg.Done(); c.close() }()
	}
	wg.Wait()
}

func (c *conn) close() {
	ctx, cancel := context.WithTimeout(context.Background(), logoffTimeout)
	defer cancel()
	_ = c.share.WithContext(ctx).Umount()
	_ = c.sess.WithContext(ctx).Logoff() // closes the TCP connection however it goes
	c.tcp.Close()
}

func (p *pool) dial(parent context.Context) (*conn, error) {
	cfg := p.cfg
	// A server that accepts the connection and then hangs holds the handshake: it is
	// bounded by the dial timeout, or the request timeout when that is shorter.
	ctx, cancel := context.WithTimeout(parent, min(dialTimeout, cfg.Timeout))
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", cfg.Host)
	if err != nil {
		if parent.Err() == nil && isContext(err) {
			// Our own dial timeout, not the caller's: the server does not answer.
			return nil, storage.NewError(storage.ErrUnavailable, "connect", "", err)
		}
		return nil, classify("connect", "", err)
	}
	tcp := newWatchedConn(raw, cfg.Timeout)
	d := &smb2.Dialer{
		MaxCreditBalance: maxCredits,
		Initiator: &smb2.NTLMInitiator{
			User:     cfg.User,
			Password: cfg.Password,
			Domain:   cfg.Domain,
		},
	}
	d.Negotiator.RequireMessageSigning = cfg.Sign
	if cfg.Encrypt {
		// go-smb2 encrypts every request once the server asks for it (the share or
		// session flag); SMB 3.1.1 is what makes AES-GCM available and keeps a
		// downgrade to an unencrypted dialect from succeeding.
		d.Negotiator.SpecifiedDialect = smb311
	}
	sess, err := d.DialConn(ctx, tcp, cfg.Host)
	if err != nil {
		tcp.Close()
		return nil, classifyDial(err)
	}
	share, err := sess.WithContext(ctx).Mount(cfg.Share)
	if err != nil {
		_ = sess.WithContext(ctx).Logoff()
		tcp.Close()
		return nil, classify("mount", "", err)
	}
	return &conn{tcp: tcp, sess: sess, share: share}, nil
}

// classifyDial classifies a failed negotiate or session setup. go-smb2 reports a
// refused logon as an InvalidResponseError (the session setup status is not one it
// expects) rather than with its NT status; once the TCP connection is up, such an
// error is the server refusing the credentials or the dialect, so it is a permission
// problem, not a retryable one.
func classifyDial(err error) error {
	var ire *smb2.InvalidResponseError
	if errors.As(err, &ire) {
		return storage.NewError(storage.ErrPermission, "connect", "", fmt.Errorf("session setup refused (user, password, signing or dialect): %w", err))
	}
	return classify("connect", "", err)
}

// watchedConn notes when its connection fails, so that the pool can drop a connection
// whose server went away while it sat idle without a round trip: go-smb2's receiver
// goroutine reads all the time and sees the close at once.
//
// It also bounds how long a request waits for a server that hangs (accepts, never
// answers). go-smb2 has no timeout of its own: a request waits for its response, or
// for its context, which for a change detached from its caller (ops.go) or a body
// being read may not end for a long time. So while the connection is engaged (an
// operation holds it and is not waiting on its own caller, or a request of a transfer
// is in flight) and no byte arrives for stallAfter, the connection is closed: every
// request on it fails as unavailable, the pool discards it, and the next operation
// dials afresh. A healthy server answers each request within that time; a transfer
// in progress receives responses all along; an idle connection, or one whose
// operation waits for its caller (a slow request body, a body read slowly), is not
// watched.
type watchedConn struct {
	net.Conn
	dead       atomic.Bool
	stallAfter time.Duration
	lastRead   atomic.Int64 // unix nanoseconds of the last byte received
	stalled    atomic.Bool

	mu      sync.Mutex
	engaged int       // reasons to expect an answer (engage/disengage)
	since   time.Time // when engaged last became positive
	timer   *time.Timer
}

func newWatchedConn(raw net.Conn, stallAfter time.Duration) *watchedConn {
	w := &watchedConn{Conn: raw, stallAfter: stallAfter}
	w.lastRead.Store(time.Now().UnixNano())
	return w
}

// engage starts (or adds a reason for) watching for answers; every engage must be
// matched by one disengage.
func (w *watchedConn) engage() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.engaged++
	if w.engaged > 1 || w.stallAfter <= 0 {
		return
	}
	w.since = time.Now()
	if w.timer == nil {
		w.timer = time.AfterFunc(w.stallAfter, w.check)
	} else {
		w.timer.Reset(w.stallAfter)
	}
}

func (w *watchedConn) disengage() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.engaged--
	if w.engaged == 0 && w.timer != nil {
		w.timer.Stop()
	}
}

// check runs when stallAfter may have passed without an answer.
func (w *watchedConn) check() {
	w.mu.Lock()
	if w.engaged <= 0 {
		w.mu.Unlock()
		return
	}
	last := time.Unix(0, w.lastRead.Load())
	if w.since.After(last) {
		last = w.since
	}
	if wait := w.stallAfter - time.Since(last); wait > 0 {
		w.timer.Reset(wait)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.stalled.Store(true)
	w.Close()
}

// errStalled is what the requests on a connection closed by check fail with. It
// wraps os.ErrDeadlineExceeded, a net.Error: the connection is lost (errors.go), and
// the operation fails as unavailable.
func (w *watchedConn) errStalled() error {
	return fmt.Errorf("smb: the server sent nothing for %v while a request waited (hung?): %w", w.stallAfter, os.ErrDeadlineExceeded)
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		w.lastRead.Store(time.Now().UnixNano())
	}
	if err != nil {
		w.dead.Store(true)
		if w.stalled.Load() {
			err = w.errStalled()
		}
	}
	return n, err
}

func (w *watchedConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	if err != nil {
		w.dead.Store(true)
		if w.stalled.Load() {
			err = w.errStalled()
		}
	}
	return n, err
}

func (w *watchedConn) Close() error {
	w.dead.Store(true)
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	return w.Conn.Close()
}
