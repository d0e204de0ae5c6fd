package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// sink gives the ceilings of an upload on this machine: an HTTPS server in this
// process that speaks just enough tus for the benchmark client (creation, PATCH with
// offsets). Under /sink/ it throws the bytes away: what TLS, the loopback socket and
// the client cost before any server-side work. Under /file/ it is the smallest
// durable upload server: each PATCH is written at its offset into one file through
// a 1 MiB buffer and fsynced. Under /v1/content/, when contentDir is set, it is the
// plainest Go HTTPS file server (net/http's FileServer: open, fstat, ServeContent,
// no router, no auth, no log) over the folder nginx serves: the floor of a small GET
// in Go on this machine, against which nginx and lecternd can both be read.
type sink struct {
	srv  *http.Server
	base string
	file string
}

func startSink(certFile, keyFile, file, contentDir string) (*sink, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sink/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/sink/upload")
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("PATCH /sink/upload", func(w http.ResponseWriter, r *http.Request) {
		off, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		if err != nil {
			http.Error(w, "bad offset", http.StatusBadRequest)
			return
		}
		n, err := io.CopyBuffer(io.Discard, r.Body, make([]byte, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Upload-Offset", strconv.FormatInt(off+n, 10))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /file/", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		f.Close()
		w.Header().Set("Location", "/file/upload")
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("PATCH /file/upload", func(w http.ResponseWriter, r *http.Request) {
		off, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		if err != nil {
			http.Error(w, "bad offset", http.StatusBadRequest)
			return
		}
		n, err := writeAt(file, off, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Upload-Offset", strconv.FormatInt(off+n, 10))
		w.WriteHeader(http.StatusNoContent)
	})
	if contentDir != "" {
		mux.Handle("GET /v1/content/", http.StripPrefix("/v1/content/", http.FileServer(http.Dir(contentDir))))
	}
	s := &sink{file: file, base: "https://" + ln.Addr().String(), srv: &http.Server{Handler: mux,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}} // wrk hangs up mid-handshake when its run ends
	go func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "sink:", err)
		}
	}()
	return s, nil
}

func (s *sink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// writeAt copies body into file at off through a 1 MiB buffer and fsyncs the file.
func writeAt(file string, off int64, body io.Reader) (int64, error) {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{body}, make([]byte, 1<<20))
	if err != nil {
		return n, err
	}
	return n, f.Sync()
}
