package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// apiError is the server's JSON error, {"error":{"code","message","status"}}: the code
// is stable, the message is for humans.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// readAPIError turns a failed response into an *apiError. A body that is not the JSON
// error shape (a proxy's page, tusd's text) keeps the status and a short excerpt.
func readAPIError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &apiError{Status: resp.StatusCode}
	var shape struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &shape) == nil && shape.Error.Code != "" {
		e.Code, e.Message = shape.Error.Code, shape.Error.Message
	} else {
		e.Code = "http_" + fmt.Sprint(resp.StatusCode)
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		var secs int
		if _, err := fmt.Sscan(s, &secs); err == nil && secs > 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return e
}

// client calls the server's API.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// call sends one JSON request to the server with the configured token and decodes
// the answer into out (nil: none), as every simple subcommand does.
func (a *app) call(ctx context.Context, method, path string, in, out any) error {
	cl, err := a.client(true)
	if err != nil {
		return err
	}
	return cl.doJSON(ctx, method, path, in, out)
}

// client builds an API client from the global flags. needToken is false only for
// requests that carry their own authorization (signed URLs).
func (a *app) client(needToken bool) (*client, error) {
	base, err := url.Parse(a.server)
	if err != nil || base.Host == "" {
		return nil, usagef("--server %q is not a URL like https://host:8443", a.server)
	}
	if base.Scheme != "https" {
		// Tokens and content keys must never cross the network in clear text.
		return nil, usagef("--server must be an https:// URL (Lectern serves HTTPS only)")
	}
	c := &client{base: base}
	if needToken {
		if c.token, err = a.resolveToken(); err != nil {
			return nil, err
		}
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.caFile != "" {
		pem, err := os.ReadFile(a.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", a.caFile)
		}
		tlsCfg.RootCAs = pool
	}
	if a.insecure {
		fmt.Fprintln(a.stderr, "lectern: WARNING: --insecure: the server's certificate is NOT verified; anyone on the network path can read your token and data")
		tlsCfg.InsecureSkipVerify = true
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		// Requests that say "Expect: 100-continue" (PATCHes) wait this long for the
		// server's go-ahead before sending the body anyway.
		ExpectContinueTimeout: 2 * time.Second,
		// Bulk bodies: bigger buffers mean fewer, fuller TLS records than the 4 KiB
		// defaults.
		WriteBufferSize: 128 << 10,
		ReadBufferSize:  128 << 10,
		// HTTP/1.1: one bulk transfer at a time gains nothing from HTTP/2, whose flow
		// control windows halved download throughput in BenchmarkDownload.
		ForceAttemptHTTP2: false,
	}
	// No overall timeout: uploads and downloads of large files take as long as they
	// take; every request has a context, and the transport bounds each phase.
	c.http = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		// Never forward the token to another origin: not to another host, and not to
		// the same host over http:// or on another port, where it would cross the
		// network in clear text or reach another service.
		if !c.sameOrigin(req.URL) {
			req.Header.Del("Authorization")
		}
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	return c, nil
}

// resolve turns a path (or a full URL) into an absolute URL on the server.
func (c *client) resolve(ref string) (*url.URL, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, usagef("%q is not a URL or path", ref)
	}
	return c.base.ResolveReference(u), nil
}

// sameOrigin reports whether u is on the configured server (the token may be sent):
// the same scheme, host and port (RFC 6454 origin), an omitted port being the
// scheme's default and host names matched without regard to case.
func (c *client) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.base.Scheme) &&
		strings.EqualFold(u.Hostname(), c.base.Hostname()) &&
		originPort(u) == originPort(c.base)
}

// originPort is u's port, or its scheme's default.
func originPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// newRequest prepares a request; the token goes only to the configured server.
func (c *client) newRequest(ctx context.Context, method, ref string, body io.Reader) (*http.Request, error) {
	u, err := c.resolve(ref)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.token != "" && c.sameOrigin(u) {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "lectern-cli")
	return req, nil
}

// doJSON sends in (if not nil) as JSON and decodes a 2xx answer into out (if not
// nil). Any other answer is an *apiError.
func (c *client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readAPIError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}
