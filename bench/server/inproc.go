package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/core/events"
	"github.com/lectern/lectern/core/storage"
	"github.com/lectern/lectern/httpapi"
	"github.com/lectern/lectern/httpapi/confapi"
	"github.com/lectern/lectern/httpapi/tlscert"
	"github.com/lectern/lectern/stream"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(dir string) (certFile, keyFile string, err error) {
	certPEM, keyPEM, err := tlscert.SelfSigned([]string{"localhost", "127.0.0.1"}, 24*time.Hour)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, keyPEM, 0o600)
}

// inproc is the server lecternd assembles (cmd/lecternd serve.go and engine_ext.go:
// disk backend, conference engine, confapi and stream routes on httpapi, TLS on a
// loopback port), built in this process so that a CPU profile covers the server
// and the storage calls can be timed. Only the backend is wrapped (timingDriver).
type inproc struct {
	base   string
	admin  string
	timing *timingDriver
	srv    *http.Server
	eng    *conference.Engine
	bucket *storage.Bucket
	logF   *os.File
}

// directMax is stream.Config.DirectMax (0: lecternd's default).
func startInproc(ctx context.Context, dir, certFile, keyFile string, maxFile, directMax int64) (*inproc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d, err := disk.New(filepath.Join(dir, "store"))
	if err != nil {
		return nil, err
	}
	p := &inproc{timing: newTimingDriver(d)}
	p.bucket = storage.NewBucket(p.timing)
	if p.logF, err = os.Create(filepath.Join(dir, "inproc.log")); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(p.logF, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var kek [32]byte
	_, _ = rand.Read(kek[:])
	limits := conference.DefaultLimits()
	limits.MaxContentFile, limits.MaxConferenceContent = maxFile, 64*maxFile
	hub := events.NewHub(1024)
	if p.eng, err = conference.New(conference.Config{Bucket: p.bucket, KEK: kek, KEKID: "kek-1",
		Limits: limits, Events: hub, Logger: log.With("part", "engine")}); err != nil {
		return nil, err
	}
	uk, err := stream.DeriveUploadKey(kek[:])
	if err != nil {
		return nil, err
	}
	up, err := stream.New(stream.Config{Engine: p.eng, Bucket: p.bucket, UploadKey: uk, DirectMax: directMax,
		Logger: log.With("part", "uploads")})
	if err != nil {
		return nil, err
	}
	auth, err := httpapi.NewAuthority(httpapi.NewSecret())
	if err != nil {
		return nil, err
	}
	if p.admin, _, err = auth.Mint(httpapi.TokenSpec{Role: httpapi.RoleAdmin, TTL: 6 * time.Hour}); err != nil {
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{Content: p.bucket, Auth: auth, Logger: log,
		ErrorRules: confapi.ErrorRules(),
		Routes:     []httpapi.RouteRegistrar{confapi.Routes(confapi.Config{Engine: p.eng, Events: hub}), up.Routes()}})
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.srv = &http.Server{Handler: labelled(api.Handler()), TLSConfig: httpapi.TLSConfig(cert),
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() {
		if err := p.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("in-process server", "err", err)
		}
	}()
	p.base = "https://" + ln.Addr().String()
	return p, nil
}

// labelled marks the server's work in CPU profiles (pprof label side=server, inherited
// by the goroutines a request starts), so that go tool pprof -tagfocus side=server
// separates it from this program's client side.
func labelled(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), pprof.Labels("side", "server"), func(ctx context.Context) {
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	})
}

func (p *inproc) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	if err := p.eng.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "engine close:", err)
	}
	_ = p.bucket.Close()
	_ = p.logF.Close()
}
