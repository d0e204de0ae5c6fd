package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// client is the one HTTP client every side of every measurement uses: HTTP/1.1 over
// TLS (a custom TLS config turns Go's automatic HTTP/2 off, and nginx is configured
// without it), keep-alive, 64 KiB socket buffers in both directions.
type client struct {
	hc *http.Client
}

func newClient(certFile string) (*client, error) {
	pool, err := certPool(certFile)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	return &client{hc: &http.Client{Transport: tr}}, nil
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// jsonCall sends a JSON request and decodes a JSON answer (out may be nil).
func (c *client) jsonCall(ctx context.Context, method, url, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// setupConference creates a conference with lecternd's API and mints a presenter
// token for it.
func (c *client) setupConference(ctx context.Context, base, admin, id string) (string, error) {
	if err := c.jsonCall(ctx, http.MethodPost, base+"/v1/conferences", admin,
		map[string]any{"id": id, "organizer": "sip:bench@example.com"}, nil); err != nil {
		return "", err
	}
	var tok struct {
		Token string `json:"token"`
	}
	err := c.jsonCall(ctx, http.MethodPost, base+"/v1/tokens", admin,
		map[string]any{"role": "presenter", "conference": id, "subject": "bench", "ttl_seconds": 6 * 3600}, &tok)
	return tok.Token, err
}

// uploadResult is one tus upload as the client saw it.
type uploadResult struct {
	elapsed time.Duration // creation through the completing PATCH's answer
	last    time.Duration // the completing PATCH alone
	url     string        // Lectern-Content-Url (empty for tusd)
	key     string        // Lectern-Content-Key
}

// tusUpload uploads file with tus 1.0: one creation POST, then PATCHes of chunk bytes
// (chunk <= 0: one PATCH with the whole file), each read straight from the file.
// token may be empty (tusd has no authorization).
func (c *client) tusUpload(ctx context.Context, createURL, token, file string, chunk int64) (uploadResult, error) {
	f, err := os.Open(file)
	if err != nil {
		return uploadResult{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return uploadResult{}, err
	}
	size := st.Size()
	if chunk <= 0 {
		chunk = size
	}
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, createURL, nil)
	if err != nil {
		return uploadResult{}, err
	}
	c.tusHeaders(req, token)
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte("bench.bin")))
	resp, err := c.hc.Do(req)
	if err != nil {
		return uploadResult{}, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return uploadResult{}, fmt.Errorf("tus creation: %s", resp.Status)
	}
	loc, err := url.Parse(createURL)
	if err == nil {
		loc, err = loc.Parse(resp.Header.Get("Location"))
	}
	if err != nil {
		return uploadResult{}, fmt.Errorf("tus creation: bad Location: %w", err)
	}
	var res uploadResult
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		t1 := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc.String(), io.NewSectionReader(f, off, n))
		if err != nil {
			return uploadResult{}, err
		}
		req.ContentLength = n
		c.tusHeaders(req, token)
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		resp, err := c.hc.Do(req)
		if err != nil {
			return uploadResult{}, fmt.Errorf("PATCH at %d: %w", off, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return uploadResult{}, fmt.Errorf("PATCH at %d: %s: %s", off, resp.Status, b)
		}
		if got := resp.Header.Get("Upload-Offset"); got != strconv.FormatInt(off+n, 10) {
			return uploadResult{}, fmt.Errorf("PATCH at %d: Upload-Offset %q, want %d", off, got, off+n)
		}
		res.last = time.Since(t1)
		res.url = resp.Header.Get("Lectern-Content-Url")
		res.key = resp.Header.Get("Lectern-Content-Key")
	}
	res.elapsed = time.Since(t0)
	return res, nil
}

func (c *client) tusHeaders(req *http.Request, token string) {
	req.Header.Set("Tus-Resumable", "1.0.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

// download GETs url and discards the body through a 256 KiB buffer; it checks the
// status and that want bytes arrived.
func (c *client) download(ctx context.Context, url, token string, want int64) (time.Duration, error) {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	if n != want {
		return 0, fmt.Errorf("GET %s: %d bytes, want %d", url, n, want)
	}
	return time.Since(t0), nil
}

// digest is the SHA-256 of a GET's body (a check outside any clock).
func (c *client) digest(ctx context.Context, url, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
