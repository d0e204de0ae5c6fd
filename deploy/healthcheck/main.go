// Command lectern-healthcheck asks a lecternd on the same host whether it is alive
// (GET /healthz, or /readyz with -ready) and exits 0 when it answers 200, 1 otherwise.
// It exists because the lecternd image is a static binary on an empty base, with no
// curl or wget for a container HEALTHCHECK to run.
//
// It finds the port in LECTERN_LISTEN, the variable lecternd itself reads, so that an
// image configured through the environment needs no second setting. It only ever dials
// the loopback address, and so skips verifying the certificate, which is usually the
// self-signed one made on first start: it checks that the server answers, not who it
// is.
//
// It must not know anything of lecternd beyond its probe routes and LECTERN_LISTEN.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	ready := flag.Bool("ready", false, "check /readyz (storage reachable) instead of /healthz")
	timeout := flag.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	flag.Parse()
	url, err := probeURL(os.Getenv("LECTERN_LISTEN"), *ready)
	if err == nil {
		err = check(url, *timeout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lectern-healthcheck:", err)
		os.Exit(1)
	}
}

// probeURL is the loopback URL of the probe on the port of listen (":8443" when unset).
func probeURL(listen string, ready bool) (string, error) {
	if listen == "" {
		listen = ":8443"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		return "", fmt.Errorf("LECTERN_LISTEN=%q is not host:port", listen)
	}
	// A server bound to one loopback address is asked there; one bound to all
	// addresses (or another one) is asked on 127.0.0.1.
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		host = "127.0.0.1"
	}
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	return "https://" + net.JoinHostPort(host, port) + path, nil
}

func check(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // loopback only; see the package doc
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
