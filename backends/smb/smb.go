// Package smb is Lectern's storage backend on an SMB2/3 file share (a Windows server or
// Samba), as the original server pool kept its content and metadata: every object is a
// plain file at its key's path below a folder of the share, so operators can browse
// and back up the share as before, and several Lectern servers may share one share.
//
// It speaks SMB through github.com/cloudsoda/go-smb2, the maintained fork of
// github.com/hirochachacha/go-smb2 (which cannot rename over an existing file, has no
// Echo, can panic on truncated server packets and signs every request).
//
// Windows semantics shape the design:
//   - A put writes a dot-named temporary file, closes every handle on it (an open
//     handle blocks rename and delete), stamps it and renames it over the key's file.
//     One a crashed process left is removed with its folder once untouched for an
//     hour (temps.go).
//   - Every change of a key (put of any kind, delete) holds the key's lock: a
//     dot-named lock file created exclusively and kept open while held (lock.go).
//     Conditions are checked under it, so exactly one of racing conditional writers
//     wins, across goroutines, drivers and machines. Create-only cannot instead be a
//     rename that fails when the target exists: go-smb2's Rename always sets
//     ReplaceIfExists and offers no other way to send FileRenameInformation, and an
//     exclusive create of the key's own name would make a half-written file visible.
//   - An append (storage.Appender, append.go) is the one change that writes into the
//     key's file itself. The key's lock guards only its version checks and stamps; a
//     second dot-named file, the append claim, renewed while the bytes flow, keeps a
//     second append of the key out for however long the transfer lasts.
//   - Versions are the file's creation time, last-write time and size; the last-write
//     time of every put is stamped with random sub-second digits, so that two puts in
//     the same clock tick cannot produce one version.
//   - Names that differ only in case are one file on a Windows share: the backend
//     declares CaseInsensitive, and lock names are lower-cased so that such keys share
//     one lock.
//   - Sharing violations are retried a bounded number of times where that is safe, and
//     otherwise reported as storage.ErrUnavailable.
//   - A Get body holds its file open until it is closed (bodies of up to 1 MiB are
//     read at once and hold nothing): on Windows that blocks replacing and deleting
//     the file meanwhile (Samba lets a rename replace a file that other connections
//     have open, and the reader keeps the old bytes; deletes it refuses too). Readers
//     give way to a writer that holds the key's lock, so that a stream of readers
//     cannot starve writers. Callers must close bodies.
//   - A key is a path, so "a" and "a/b" cannot both be objects (Capabilities.FileTree).
//     On a Windows server, names Windows reserves (CON, NUL, COM1, names ending in a
//     dot) cannot be stored either; Lectern's engine never makes such keys. A server
//     without long path support needs max_key_length= so that the full path stays
//     under 260 characters.
//
// Connections come from a pool that drops a connection after any transport error, or
// once a request on it got no answer for Config.Timeout (a server that hangs), and
// dials again (pool.go); large reads and writes keep several 1 MiB requests in flight
// (transfer.go). Errors are classified by go-smb2's error types and NT status codes
// (errors.go).
//
// It knows only the storage contract: nothing of the engine, HTTP or encryption. It
// never logs or prints the password.
package smb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// PasswordEnv is the environment variable OpenURL reads the password from when the URL
// has no password_file.
const PasswordEnv = "LECTERN_SMB_PASSWORD"

// Config describes one share folder and how to reach it.
type Config struct {
	// Host is host:port (port 445 when missing).
	Host string
	// Domain, User and Password are the NTLM credentials.
	Domain   string
	User     string
	Password string
	// Share is the share name; Path a slash-separated folder inside it (may be empty)
	// under which the keys live.
	Share string
	Path  string
	// Sign requires SMB signing of every message.
	Sign bool
	// Encrypt requires SMB 3.1.1; the client then encrypts every message as soon as the
	// share or session asks for encryption (Samba: `server smb encrypt = required`;
	// Windows: Set-SmbShare -EncryptData $true). go-smb2 cannot ask for encryption on a
	// share that does not require it.
	Encrypt bool
	// MaxKeyLength, when not zero, lowers the key length limit (for a Windows server
	// without long path support, whose full path must stay under 260 characters).
	MaxKeyLength int
	// InFlight is the number of 1 MiB requests a transfer keeps in flight (default 8).
	InFlight int
	// MaxIdle is the number of idle connections kept (default 8).
	MaxIdle int
	// Timeout bounds how long a request waits without any answer from the server
	// (default DefaultTimeout, 45 s): then its connection is closed and the operation
	// fails as storage.ErrUnavailable (pool.go). Connecting is bounded by the shorter
	// of 15 s and Timeout.
	Timeout time.Duration
	// Logger receives diagnostics (never credentials); nil means slog.Default().
	Logger *slog.Logger
}

// Driver is a storage.Driver on an SMB share folder. It is safe for concurrent use.
type Driver struct {
	cfg    Config
	base   string // the folder inside the share, backslash-separated, "" for the root
	pool   *pool
	log    *slog.Logger
	closed atomic.Bool
	// busyWait bounds the retries of a rename or delete blocked by an open handle
	// (busyWait the constant; tests shorten it).
	busyWait time.Duration
	// staleAfter and lockWait are the lock's constants (lock.go); tests shorten them.
	staleAfter, lockWait time.Duration
	// deadTempAge is temps.go's constant; tests shorten it.
	deadTempAge time.Duration
}

var _ storage.Driver = (*Driver)(nil)

// Open connects to the share (one connection, to fail early on wrong credentials or an
// unreachable server) and returns a driver over cfg.Path.
func Open(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.Host == "" || cfg.Share == "" || cfg.User == "" {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", errors.New("smb: host, share and user are required"))
	}
	if _, _, err := net.SplitHostPort(cfg.Host); err != nil {
		cfg.Host = net.JoinHostPort(cfg.Host, "445")
	}
	base := strings.Trim(cfg.Path, "/")
	if err := checkFolder(base); err != nil {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("smb: folder %q: %w", base, err))
	}
	cfg.Path = base
	if cfg.InFlight <= 0 {
		cfg.InFlight = 8
	}
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxKeyLength < 0 || cfg.MaxKeyLength > storage.MaxKeyLength {
		cfg.MaxKeyLength = 0
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	d := &Driver{cfg: cfg, base: strings.ReplaceAll(base, "/", `\`), log: log, busyWait: busyWait, staleAfter: staleAfter, lockWait: lockWait, deadTempAge: deadTempAge}
	d.pool = newPool(&d.cfg)
	c, err := d.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	d.pool.put(c, nil)
	log.Debug("smb: connected", "share", d.String())
	return d, nil
}

// OpenURL opens smb://[domain;]user@host[:port]/share[/path]. The password comes from
// the file named by the password_file query parameter, or else from the environment
// variable LECTERN_SMB_PASSWORD; a URL carrying a password is refused, so that it can
// never end up in a log. Further parameters: sign=true, encrypt=true,
// max_key_length=N, inflight=N, timeout=DURATION (Config.Timeout, e.g. 30s).
func OpenURL(ctx context.Context, u *url.URL) (*Driver, error) {
	cfg, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return Open(ctx, cfg)
}

// ParseURL turns a URL (see OpenURL) into a Config, reading the password.
func ParseURL(u *url.URL) (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return Config{}, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("smb URL: "+format, a...))
	}
	if u.Scheme != "smb" {
		return bad("scheme is %q, want smb", u.Scheme)
	}
	if u.Host == "" || u.User == nil || u.User.Username() == "" {
		return bad("want smb://[domain;]user@host[:port]/share/path")
	}
	if _, set := u.User.Password(); set {
		return bad("a password in the URL is refused: use password_file= or %s", PasswordEnv)
	}
	cfg := Config{Host: u.Host, User: u.User.Username()}
	if d, user, ok := strings.Cut(cfg.User, ";"); ok {
		cfg.Domain, cfg.User = d, user
	}
	cfg.Share, cfg.Path, _ = strings.Cut(strings.Trim(u.Path, "/"), "/")
	if cfg.Share == "" {
		return bad("no share name")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// u.Query() would drop the pair silently: "encrypt=true" lost to a typo.
		return bad("the query does not parse (percent-encode '%%', '&' and '=' in values)")
	}
	for k, values := range q {
		switch k {
		case "password_file", "sign", "encrypt", "max_key_length", "inflight", "timeout":
		default:
			return bad("unknown parameter %q", k)
		}
		if len(values) != 1 {
			return bad("parameter %q given %d times", k, len(values))
		}
	}
	boolParam := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		return strconv.ParseBool(v)
	}
	if cfg.Sign, err = boolParam("sign"); err != nil {
		return bad("sign: %v", err)
	}
	if cfg.Encrypt, err = boolParam("encrypt"); err != nil {
		return bad("encrypt: %v", err)
	}
	for name, dst := range map[string]*int{"max_key_length": &cfg.MaxKeyLength, "inflight": &cfg.InFlight} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return bad("%s must be a positive number", name)
			}
			*dst = n
		}
	}
	if v := q.Get("timeout"); v != "" {
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 {
			return bad("timeout must be a positive duration such as 30s")
		}
		cfg.Timeout = t
	}
	if f := q.Get("password_file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return bad("password_file: %v", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	} else {
		cfg.Password = os.Getenv(PasswordEnv)
	}
	if cfg.Password == "" {
		return bad("no password: set password_file= or %s", PasswordEnv)
	}
	return cfg, nil
}

// String describes the share without credentials.
func (d *Driver) String() string {
	u := url.URL{Scheme: "smb", User: url.User(d.cfg.User), Host: d.cfg.Host, Path: "/" + d.cfg.Share}
	if d.cfg.Domain != "" {
		u.User = url.User(d.cfg.Domain + ";" + d.cfg.User)
	}
	if d.cfg.Path != "" {
		u.Path += "/" + d.cfg.Path
	}
	return u.String()
}

// Capabilities implements storage.Driver.
func (d *Driver) Capabilities() storage.Capabilities {
	return storage.Capabilities{
		ConditionalCreate:     true,
		ConditionalReplace:    true,
		SharedAcrossInstances: true,
		CaseInsensitive:       true,
		MaxKeyLength:          d.cfg.MaxKeyLength,
		FileTree:              true,
	}
}

// Close implements storage.Driver: it logs off every idle connection. Readers still
// open keep their connection until they are closed.
func (d *Driver) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.pool.close()
	return nil
}

func (d *Driver) check(op, key string) error {
	if d.closed.Load() {
		return storage.NewError(storage.ErrClosed, op, key, nil)
	}
	return nil
}

// path returns the share path of a key (or of a folder prefix ending in "/").
func (d *Driver) path(key string) string {
	p := strings.ReplaceAll(strings.TrimSuffix(key, "/"), "/", `\`)
	if d.base == "" {
		return p
	}
	if p == "" {
		return d.base
	}
	return d.base + `\` + p
}

// checkFolder accepts the operator's folder inside the share: any names (spaces and
// all, as folders on shares have), but no empty, "." or ".." segment, backslash or
// control character.
func checkFolder(p string) error {
	if p == "" {
		return nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("has the segment %q", seg)
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f || r == '\\' {
				return fmt.Errorf("has the character %q", r)
			}
		}
	}
	return nil
}

// keyOf is the inverse of path.
func (d *Driver) keyOf(p string) string {
	if d.base != "" {
		p = strings.TrimPrefix(strings.TrimPrefix(p, d.base), `\`)
	}
	return strings.ReplaceAll(p, `\`, "/")
}

func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '\\')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + `\` + name
}

// tempPath names a temporary file next to p. It is dot-named (never a key, invisible
// to List) and does not repeat p's name, so that it fits whatever p fits.
func tempPath(p string) string {
	dir, _ := splitPath(p)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return joinPath(dir, tempPrefix+hex.EncodeToString(b))
}

// detach returns a context for the requests of one operation: it is not cancelled the
// moment ctx is, so that requests in flight can finish and a half-written temporary
// file can still be closed and removed, but only grace later (a server that hangs
// must not hold the operation forever). stop releases it.
func detach(ctx context.Context, grace time.Duration) (context.Context, func()) {
	io, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var timer atomic.Pointer[time.Timer]
	stopAfter := context.AfterFunc(ctx, func() { timer.Store(time.AfterFunc(grace, cancel)) })
	return io, func() {
		stopAfter()
		if t := timer.Load(); t != nil {
			t.Stop()
		}
		cancel()
	}
}

const cleanupGrace = 10 * time.Second

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// jitter spreads retries of racing clients: d ± 50%.
func jitter(d time.Duration) time.Duration {
	var b [2]byte
	_, _ = rand.Read(b[:])
	f := float64(int(b[0])<<8|int(b[1])) / 65535
	return time.Duration(float64(d) * (0.5 + f))
}
