package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/tlscert"
)

// Files in <data-dir>/config. The secrets are hex text so that an operator can copy
// them into a secret store; they are created once, with mode 0600, and never logged.
const (
	configDirName = "config"
	certFile      = "tls-cert.pem"
	keyFile       = "tls-key.pem"
	kekFile       = "kek.hex"
	// kekIDFile names the current KEK (default kek-1, the id of a store that never
	// rotated); previousKEKsFile holds earlier KEKs as "<id> <hex>" lines, so that
	// conferences wrapped before a rotation open and are rewrapped. Both optional.
	kekIDFile        = "kek-id"
	previousKEKsFile = "kek.previous.hex"
	defaultKEKID     = "kek-1"
	tokenSecretFile  = "token-secret.hex"
	// previousSecretsFile holds secrets that signed tokens before the current one,
	// one hex secret per line: tokens and signed URLs they signed stay valid (until
	// they expire) while the file exists. It is optional and never created here.
	previousSecretsFile = "token-secret.previous.hex"
	adminTokenFile      = "admin-token"
	// adminTokenPendingFile exists from just before the token secret is created until
	// the admin token is saved (see tokenSecretAndAdminToken).
	adminTokenPendingFile = "admin-token.pending"
	// bootstrapLockFile is flocked while a start prepares the config dir.
	bootstrapLockFile = "bootstrap.lock"
	certValidity      = 825 * 24 * time.Hour
)

// certHosts are the names of the self-signed certificate.
var certHosts = []string{"localhost", "127.0.0.1", "::1"}

// secrets is what bootstrap loads or creates.
type secrets struct {
	KEK          []byte // 32 bytes: wraps every conference master key
	KEKID        string
	PreviousKEKs map[string][]byte
	TokenSecret  []byte // signs tokens and content URLs
	// PreviousTokenSecrets still verify what they signed (a rotation without a
	// hard cut); nothing new is signed with them.
	PreviousTokenSecrets [][]byte
	// Cert serves the TLS certificate and key files, read again when they change.
	Cert *tlscert.Files
}

// bootstrap prepares the data dir: the TLS certificate (unless given), the KEK and the
// token secret, each created on first start and reused after. On the start that
// creates the token secret (or the next one, if that start stopped before saving the
// token) it also mints an admin token, saves it (0600) and prints it once on out.
func bootstrap(cfg Config, log *slog.Logger, out io.Writer) (*secrets, error) {
	dir := filepath.Join(cfg.DataDir, configDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fileMistake(fmt.Errorf("config dir: %w", err))
	}
	// MkdirAll leaves an existing folder's mode alone; the secrets' folder is private.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fileMistake(fmt.Errorf("config dir: %w", err))
	}
	// Two lecternd sharing the data dir on one host may start at the same moment:
	// each step below is create-once, but steps made of several files (the self-signed
	// certificate and its key; the secret and its admin token) must not interleave.
	unlock, err := lockConfigDir(dir)
	if err != nil {
		return nil, fmt.Errorf("config dir: %w", err)
	}
	defer unlock()
	removeDeadTemporaries(dir, log)
	// Everything that can fail on an operator's mistake (a wrong --tls-cert, a bad
	// previous-secrets line) is read and checked before any secret is created, so that
	// such a start leaves nothing behind that changes the next one.
	s := &secrets{}
	if s.KEKID, s.PreviousKEKs, err = loadKEKIDs(dir); err != nil {
		return nil, err
	}
	if s.PreviousTokenSecrets, err = loadPreviousSecrets(filepath.Join(dir, previousSecretsFile)); err != nil {
		return nil, err
	}
	certPath, keyPath, err := certificateFiles(cfg, dir, log)
	if err != nil {
		return nil, err
	}
	// LoadFiles's errors name the file ("TLS certificate: open …", "TLS key: …").
	if s.Cert, err = tlscert.LoadFiles(certPath, keyPath); err != nil {
		if errors.Is(err, tlscert.ErrInvalidPair) {
			return nil, configMistake(err)
		}
		return nil, fileMistake(err)
	}
	s.Cert.OnReload = func(leaf *x509.Certificate) {
		log.Info("TLS certificate files changed; serving the new certificate", "file", certPath,
			"subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
	s.Cert.OnError = func(err error) {
		log.Error("TLS certificate files changed but do not load; still serving the previous certificate", "err", err)
	}
	// A file that cannot be read (EMFILE under a low file limit, a missing file) is no
	// change of the files, and no renewal that failed.
	s.Cert.OnUnreadable = func(err error) {
		log.Error("TLS certificate files cannot be read; still serving the previous certificate", "err", err)
	}
	s.Cert.OnReadable = func() {
		log.Info("TLS certificate files can be read again; unchanged, still serving the same certificate", "file", certPath)
	}
	if s.KEK, _, err = loadOrCreateSecret(filepath.Join(dir, kekFile), 32); err != nil {
		return nil, err
	}
	if n := len(s.PreviousKEKs); n > 0 {
		log.Info("previous KEKs accepted; conferences still wrapped with them are rewrapped", "count", n, "kek", s.KEKID)
	}
	if n := len(s.PreviousTokenSecrets); n > 0 {
		log.Info("previous token secrets accepted for verification", "count", n, "file", previousSecretsFile)
	}
	if s.TokenSecret, err = tokenSecretAndAdminToken(cfg, dir, log, out); err != nil {
		return nil, err
	}
	return s, nil
}

// tokenSecretAndAdminToken loads the token secret, or creates it and mints the admin
// token. The marker file adminTokenPendingFile is written before the secret is created
// and removed once the admin token is saved: a start that fails (or is killed) in
// between leaves the marker, and the next start mints the token then. A secret without
// the marker was provided by the operator (a Secret in Kubernetes, say), or its admin
// token was minted and later deleted on purpose: nothing is minted for it.
func tokenSecretAndAdminToken(cfg Config, dir string, log *slog.Logger, out io.Writer) ([]byte, error) {
	secretPath := filepath.Join(dir, tokenSecretFile)
	tokenPath := filepath.Join(dir, adminTokenFile)
	pendingPath := filepath.Join(dir, adminTokenPendingFile)
	if !fileExists(secretPath) {
		if err := writeFileAtomic(pendingPath, nil, 0o600, true); err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
	}
	secret, created, err := loadOrCreateSecret(secretPath, httpapi.MinSecretLength)
	if err != nil {
		return nil, err
	}
	switch pending := fileExists(pendingPath); {
	case created || pending && !fileExists(tokenPath):
		if !created {
			log.Warn("an earlier first start stopped before saving the admin token; minting it now", "file", tokenPath)
		}
		if err := issueAdminToken(cfg, secret, tokenPath, out); err != nil {
			return nil, err
		}
	case fileExists(tokenPath):
		log.Info("the admin token minted on first start is in its file", "file", tokenPath)
	default:
		log.Info("token secret provided; no admin token was minted here")
	}
	// Another lecternd sharing the data dir may have minted and removed it first.
	if err := os.Remove(pendingPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	return secret, nil
}

// issueAdminToken mints the admin token, saves it and prints it, unless the file
// already holds one of this secret's: another lecternd sharing the data dir, starting
// at the same moment, minted it first (the file is written create-only, so that
// exactly one of them prints a token). A file holding a token of an older secret is
// replaced.
func issueAdminToken(cfg Config, secret []byte, path string, out io.Writer) error {
	auth, err := httpapi.NewAuthority(secret)
	if err != nil {
		return err
	}
	tok, claims, err := auth.Mint(httpapi.TokenSpec{Role: httpapi.RoleAdmin, Subject: "bootstrap admin", TTL: time.Duration(cfg.AdminTokenTTL)})
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	err = writeFileAtomic(path, []byte(tok+"\n"), 0o600, false)
	if errors.Is(err, fs.ErrExist) {
		if old, rerr := os.ReadFile(path); rerr == nil {
			if _, verr := auth.Verify(strings.TrimSpace(string(old))); verr == nil {
				return nil // minted and printed by the other
			}
		}
		err = writeFileAtomic(path, []byte(tok+"\n"), 0o600, true)
	}
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	fmt.Fprintf(out, "\nLectern admin token (shown once; saved in %s, mode 0600; expires %s):\n\n%s\n\n",
		path, claims.ExpiresAt.UTC().Format(time.RFC3339), tok)
	return nil
}

// lockConfigDir takes an exclusive flock(2) on a lock file in the config dir, waiting
// for another process's, and returns its release. flock, not a lock object of the
// storage backend: the config dir is local (or a mounted volume) by design.
func lockConfigDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, bootstrapLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// loadOrCreateSecret reads n random bytes stored as hex in path, or creates them.
// A secret file readable by other users is refused, as ssh refuses such a key.
func loadOrCreateSecret(path string, n int) ([]byte, bool, error) {
	b, err := readPrivate(path)
	if err == nil {
		v, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(v) != n {
			// Only the file name: never the contents.
			return nil, false, configMistake(fmt.Errorf("%s does not hold %d bytes in hex", path, n))
		}
		return v, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fileMistake(err)
	}
	v := make([]byte, n)
	if _, err := rand.Read(v); err != nil {
		return nil, false, err
	}
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(v)+"\n"), 0o600, false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another lecternd sharing the data dir created it first: use theirs.
			v, _, err := loadOrCreateSecret(path, n)
			return v, false, err
		}
		return nil, false, err
	}
	return v, true, nil
}

// kekIDPattern is the form of a KEK id (it is bound into every wrapped master key).
var kekIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// loadKEKIDs reads the current KEK's id and the previous KEKs (both files optional).
func loadKEKIDs(dir string) (string, map[string][]byte, error) {
	id := defaultKEKID
	b, err := os.ReadFile(filepath.Join(dir, kekIDFile))
	switch {
	case err == nil:
		id = strings.TrimSpace(string(b))
		if !kekIDPattern.MatchString(id) {
			return "", nil, configMistake(fmt.Errorf("%s: a KEK id is 1-32 of a-z, 0-9 and '-'", filepath.Join(dir, kekIDFile)))
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", nil, fileMistake(err)
	}
	path := filepath.Join(dir, previousKEKsFile)
	b, err = readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		return id, nil, nil
	}
	if err != nil {
		return "", nil, fileMistake(err)
	}
	prev := map[string][]byte{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kid, hexKey, ok := strings.Cut(line, " ")
		key, herr := hex.DecodeString(strings.TrimSpace(hexKey))
		switch {
		case !ok || !kekIDPattern.MatchString(kid) || herr != nil || len(key) != 32:
			// Only the file name and line: never the contents.
			return "", nil, configMistake(fmt.Errorf("%s line %d: want \"<kek id> <64 hex digits>\"", path, i+1))
		case kid == id:
			return "", nil, configMistake(fmt.Errorf("%s line %d: %q is the current KEK's id", path, i+1, kid))
		}
		prev[kid] = key
	}
	return id, prev, nil
}

// loadPreviousSecrets reads the optional file of previous token secrets: one hex
// secret of at least httpapi.MinSecretLength bytes per line; blank lines and lines
// starting with # are skipped. A missing file means none.
func loadPreviousSecrets(path string) ([][]byte, error) {
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fileMistake(err)
	}
	var out [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := hex.DecodeString(line)
		if err != nil || len(v) < httpapi.MinSecretLength {
			// Only the file name and line: never the contents.
			return nil, configMistake(fmt.Errorf("%s line %d: not a hex secret of at least %d bytes", path, i+1, httpapi.MinSecretLength))
		}
		out = append(out, v)
	}
	return out, nil
}

func readPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, configMistake(fmt.Errorf("%s is accessible by other users (mode %04o); run chmod 600 on it", path, fi.Mode().Perm()))
	}
	return os.ReadFile(path)
}

// fileMistake marks an error of a file the operator gave or must fix as a
// configuration mistake: missing, not readable or writable by lecternd's user, a
// folder where a file belongs, a read-only volume. Other errors (EIO, EMFILE, ENOSPC)
// may pass, and stay failures a restart can cure.
func fileMistake(err error) error {
	for _, mistaken := range []error{fs.ErrNotExist, fs.ErrPermission, syscall.EISDIR, syscall.ENOTDIR, syscall.EROFS} {
		if errors.Is(err, mistaken) {
			return configMistake(err)
		}
	}
	return err
}

// deadTemporary matches writeFileAtomic's temporary files (os.CreateTemp's pattern).
var deadTemporary = regexp.MustCompile(`^\.tmp-.+-[0-9]+$`)

// removeDeadTemporaries removes the temporary files of writes that a killed start
// left in the config dir: some are a second name of a live secret (a create-only
// write links its file into place), which would outlive that secret's retirement.
// Called with the config dir's flock held, so no other start is writing one.
func removeDeadTemporaries(dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !deadTemporary.MatchString(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			log.Warn("could not remove a temporary file a killed start left", "file", e.Name(), "err", err)
			continue
		}
		log.Info("removed a temporary file a killed start left", "file", e.Name())
	}
}

// writeFileAtomic writes a whole file or nothing: a temporary file in the same folder,
// synced, then renamed over path (replace) or linked to it (create only, failing with
// fs.ErrExist if path exists), so that a crash never leaves half a secret.
func writeFileAtomic(path string, data []byte, mode fs.FileMode, replace bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	published := false
	defer func() {
		if !published {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		return err
	}
	published = true
	// The temporary name goes before the folder is synced, so that a crash never
	// leaves a second, hidden name of a secret (removeDeadTemporaries is the net).
	if !replace {
		if err := os.Remove(tmp); err != nil {
			return err
		}
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// certificateFiles returns the configured certificate and key files, or those of
// the data dir's self-signed certificate, creating it on first start and again only
// when it has expired.
func certificateFiles(cfg Config, dir string, log *slog.Logger) (certPath, keyPath string, err error) {
	if cfg.TLSCert != "" {
		return cfg.TLSCert, cfg.TLSKey, nil
	}
	certPath, keyPath = filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	keyPEM, kerr := readPrivate(keyPath)
	certPEM, cerr := os.ReadFile(certPath)
	if kerr == nil && cerr == nil {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		switch {
		case err != nil && ownSelfSigned(certPEM):
			// A renewal killed between writing the new key and the new certificate:
			// the pair is lecternd's own, so it is made again rather than stopping
			// every later start.
			log.Warn("self-signed certificate and key do not match (a renewal was cut short); creating a new pair", "file", certPath)
		case err != nil:
			return "", "", configMistake(fmt.Errorf("self-signed certificate in %s: %w", dir, err))
		default:
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				return "", "", err
			}
			if time.Now().Before(leaf.NotAfter) {
				return certPath, keyPath, nil
			}
			log.Warn("self-signed certificate expired; creating a new one", "file", certPath, "expired", leaf.NotAfter)
		}
	} else if kerr != nil && !errors.Is(kerr, fs.ErrNotExist) {
		return "", "", fileMistake(kerr)
	}
	certPEM, keyPEM, err = tlscert.SelfSigned(certHosts, certValidity)
	if err != nil {
		return "", "", err
	}
	// The key first: a certificate without its key is useless, a key alone is harmless.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600, true); err != nil {
		return "", "", fmt.Errorf("TLS key: %w", err)
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644, true); err != nil {
		return "", "", fmt.Errorf("TLS certificate: %w", err)
	}
	log.Info("created a self-signed TLS certificate", "file", certPath, "hosts", certHosts)
	return certPath, keyPath, nil
}

// ownSelfSigned reports whether certPEM is a certificate lecternd made itself
// (tlscert.SelfSigned: organization Lectern, signed by its own key), never one an
// operator put in the data dir.
func ownSelfSigned(certPEM []byte) bool {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return false
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	return slices.Equal(leaf.Subject.Organization, []string{"Lectern"}) &&
		bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignatureFrom(leaf) == nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
