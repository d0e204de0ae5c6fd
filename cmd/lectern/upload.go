package main

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// The upload client speaks tus 1.0 (core, creation, checksum) by hand. The Go tus
// client, github.com/eventials/go-tus (last changed in 2022), discards the response
// headers of the final PATCH, which carry the content URL and key; sends no
// Upload-Checksum; does not retry a failed PATCH (the caller must HEAD and resume
// itself); and reads every chunk into memory. The protocol part needed here is four
// requests.

const (
	tusVersion = "1.0.0"
	// defaultChunkSize 0 sends the rest of the file in one PATCH. A cut request loses
	// nothing but its last partial segment (the server stores every whole encrypted
	// segment it received), and a one-PATCH upload is stored by the server without a
	// second write (docs/uploads.md), which 8 MiB PATCHes are not.
	defaultChunkSize = 0
	// minChunkSize is as far as the chunk size is halved when requests are refused as
	// too large.
	minChunkSize = 256 << 10
)

// uploadState is the small file that lets a re-run of the same command resume.
type uploadState struct {
	URL        string    `json:"url"`
	Server     string    `json:"server"`
	Conference string    `json:"conference"`
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	ModTime    time.Time `json:"mtime"`
	Purpose    string    `json:"purpose"`
	Created    time.Time `json:"created"`
}

// uploadResult is the stored content: what GET <upload>/result answers.
type uploadResult struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Key     string `json:"key"`
	Size    int64  `json:"size"`
	Purpose string `json:"purpose,omitempty"`
	Handout string `json:"handout,omitempty"`
}

type uploadOptions struct {
	conference string
	handout    bool
	name       string
	chunkSize  int64
	checksum   bool
	retries    int
	stateDir   string
}

func (a *app) uploadCommand() *cobra.Command {
	var o uploadOptions
	c := &cobra.Command{
		Use:   "upload --conference ID [--handout] FILE",
		Short: "Upload a file (resumable; prints the content URL and key)",
		Long: `Upload FILE to a conference with the tus 1.0 resumable protocol, encrypted by the server
on the fly. On a network error or a server error it asks the server how much arrived and
continues from there; if the command itself is interrupted, running it again with the
same file resumes (the upload's URL is kept in a small state file under --state-dir).

On success the content URL and the content key are printed on stdout. Keep the key: it
is the only way to decrypt the content (lectern download --key).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.upload(cmd.Context(), args[0], o) },
	}
	f := c.Flags()
	f.StringVar(&o.conference, "conference", "", "conference id")
	f.BoolVar(&o.handout, "handout", false, "upload a handout (file transfer) instead of slide content")
	f.StringVar(&o.name, "name", "", "file name to record (default: FILE's base name)")
	f.Int64Var(&o.chunkSize, "chunk-size", defaultChunkSize, "bytes per PATCH request (0: the rest of the file in one request)")
	// Off by default: TLS already protects the bytes in transit, and the server stages a
	// checksummed PATCH before storing it, which cost about a third of the upload
	// throughput in BenchmarkUpload (docs/cli.md).
	f.BoolVar(&o.checksum, "checksum", false, "send an Upload-Checksum (SHA-1) with every PATCH, verified by the server before it stores the bytes")
	f.IntVar(&o.retries, "retries", 10, "consecutive failed requests before giving up")
	f.StringVar(&o.stateDir, "state-dir", "", "where resumable upload state is kept (env LECTERN_STATE_DIR; default <user cache dir>/lectern/uploads)")
	_ = c.MarkFlagRequired("conference")
	return c
}

// tusUpload is one upload in progress.
type tusUpload struct {
	a    *app
	cl   *client
	f    *os.File
	size int64
	url  string
	o    uploadOptions
	bar  *progress
}

func (a *app) upload(ctx context.Context, path string, o uploadOptions) error {
	if o.chunkSize < 0 {
		return usagef("--chunk-size must not be negative")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return usagef("%s is not a regular file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if o.name == "" {
		o.name = filepath.Base(abs)
	}
	cl, err := a.client(true)
	if err != nil {
		return err
	}
	purpose := "slide"
	if o.handout {
		purpose = "handout"
	}
	statePath, err := a.statePath(o.stateDir, uploadState{Server: cl.base.String(), Conference: o.conference,
		Path: abs, Size: fi.Size(), ModTime: fi.ModTime(), Purpose: purpose})
	if err != nil {
		return err
	}
	u := &tusUpload{a: a, cl: cl, f: f, size: fi.Size(), o: o}
	var res *uploadResult
	off := int64(-1)
	if st, ok := loadState(statePath); ok {
		u.url = st.URL
		err = u.retrying(ctx, func() error {
			var herr error
			off, herr = u.head(ctx)
			return herr
		})
		var ae *apiError
		switch {
		case err == nil:
			fmt.Fprintf(a.stderr, "resuming upload at %d of %d bytes\n", off, u.size)
		case errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusGone):
			fmt.Fprintf(a.stderr, "the earlier upload of this file is gone on the server (%s); starting over\n", ae.Code)
			_ = os.Remove(statePath)
			off = -1
		case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
			// Most likely the wrong token (another conference's, an attendee's, another
			// presenter's): the upload is still there for the right one, so its state
			// is kept.
			// %v: main prints a wrapped API error alone, without this advice.
			return fmt.Errorf("resuming the earlier upload: %v; use the token it was started with, or remove %s to start over", err, statePath)
		default:
			return fmt.Errorf("resuming the earlier upload: %w", err)
		}
	}
	if off < 0 {
		// A POST whose answer was lost may have created an upload all the same; the
		// retry makes another, and the first expires unused on the server.
		if err := u.retrying(ctx, func() error {
			var cerr error
			res, cerr = u.create(ctx, purpose)
			return cerr
		}); err != nil {
			return err
		}
		if res == nil && u.size == 0 {
			if err := u.retrying(ctx, func() error {
				var rerr error
				res, rerr = u.result(ctx)
				return rerr
			}); err != nil {
				return err
			}
		}
		off = 0
		st := uploadState{URL: u.url, Server: cl.base.String(), Conference: o.conference, Path: abs,
			Size: u.size, ModTime: fi.ModTime(), Purpose: purpose, Created: time.Now().UTC()}
		if err := saveState(statePath, st); err != nil {
			// Not fatal: the upload still works, it just cannot be resumed by a re-run.
			fmt.Fprintf(a.stderr, "lectern: warning: could not save the resume state: %v\n", err)
		}
	}
	if res == nil {
		u.bar = a.newProgress(u.size, "uploading "+o.name)
		u.bar.Set(off)
		res, err = u.send(ctx, off)
		if err != nil {
			u.bar.Abandon()
			if ctx.Err() != nil {
				return fmt.Errorf("upload interrupted; run the same command again to resume: %w", ctx.Err())
			}
			return err
		}
		u.bar.Finish()
	}
	_ = os.Remove(statePath)
	return a.printUploadResult(cl, o.name, res)
}

func (a *app) printUploadResult(cl *client, name string, res *uploadResult) error {
	if u, err := cl.resolve(res.URL); err == nil {
		res.URL = u.String()
	}
	if a.jsonOutput() {
		return a.printJSON(res)
	}
	fmt.Fprintf(a.stderr, "uploaded %s (%d bytes) as %s\n", name, res.Size, res.Name)
	fmt.Fprintf(a.stdout, "url: %s\nkey: %s\n", res.URL, res.Key)
	if res.Handout != "" {
		fmt.Fprintf(a.stdout, "handout: %s\n", res.Handout)
	}
	return nil
}

var extPattern = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// create starts the upload (POST) and remembers its URL. An empty file is complete
// with the POST alone, in which case the result is returned.
func (u *tusUpload) create(ctx context.Context, purpose string) (*uploadResult, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(u.o.name), "."))
	if !extPattern.MatchString(ext) {
		ext = "bin"
	}
	meta := []string{
		"filename " + base64.StdEncoding.EncodeToString([]byte(u.o.name)),
		"ext " + base64.StdEncoding.EncodeToString([]byte(ext)),
		"purpose " + base64.StdEncoding.EncodeToString([]byte(purpose)),
	}
	path := "/v1/conferences/" + url.PathEscape(u.o.conference) + "/uploads"
	req, err := u.cl.newRequest(ctx, http.MethodPost, path, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Upload-Length", strconv.FormatInt(u.size, 10))
	req.Header.Set("Upload-Metadata", strings.Join(meta, ","))
	resp, err := u.cl.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, readAPIError(resp)
	}
	loc, err := req.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return nil, errors.New("the server created the upload but sent no usable Location")
	}
	u.url = loc.String()
	if u.size == 0 {
		// Complete at creation; without the result headers, the caller asks for it
		// (retrying that alone: a second POST would make a second upload).
		return resultFromHeaders(resp.Header), nil
	}
	return nil, nil
}

// head asks the server how many bytes of the upload it holds.
func (u *tusUpload) head(ctx context.Context) (int64, error) {
	req, err := u.cl.newRequest(ctx, http.MethodHead, u.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Cache-Control", "no-store")
	resp, err := u.cl.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e := readAPIError(resp).(*apiError)
		if e.Code == "http_"+strconv.Itoa(resp.StatusCode) {
			e.Message = http.StatusText(resp.StatusCode) // HEAD has no body to quote
		}
		return 0, e
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 || off > u.size {
		return 0, fmt.Errorf("the server reports an invalid Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	if l := resp.Header.Get("Upload-Length"); l != "" && l != strconv.FormatInt(u.size, 10) {
		return 0, fmt.Errorf("the server's upload is %s bytes long, the file %d: not the same upload", l, u.size)
	}
	return off, nil
}

// send PATCHes the file from off to the end, re-learning the offset from the server
// after every failure.
func (u *tusUpload) send(ctx context.Context, off int64) (*uploadResult, error) {
	failures := 0
	known := true
	var conflict error // a 409 answer to a PATCH at off
	for {
		if !known {
			o, err := u.head(ctx)
			var ae *apiError
			if errors.As(err, &ae) && (ae.Status == http.StatusConflict || ae.Status == http.StatusGone) {
				// A HEAD has no offset to disagree on: the upload itself is refused
				// (the conference has ended), or gone (its completion was refused for
				// good: the server answers 410 after that). The PATCH's answer says why.
				if conflict != nil {
					return nil, conflict
				}
				return nil, err
			}
			if err != nil {
				if ferr := u.failed(ctx, &failures, err); ferr != nil {
					return nil, ferr
				}
				continue
			}
			if conflict != nil && o == off {
				// The offset was right, so the conflict is something else (the
				// conference has ended): retrying cannot help.
				return nil, conflict
			}
			conflict = nil
			if o < off {
				fmt.Fprintf(u.a.stderr, "\nthe server holds %d bytes; resending from there\n", o)
			}
			off, known = o, true
			u.bar.Set(off)
		}
		if off == u.size {
			return u.result(ctx)
		}
		n := u.size - off
		if u.o.chunkSize > 0 {
			n = min(u.o.chunkSize, n)
		}
		next, res, err := u.patch(ctx, off, n)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusRequestEntityTooLarge && n > minChunkSize {
			// A body limit on the way (a proxy, or the server's own) refused the
			// request before reading it: smaller requests carry the same upload.
			u.o.chunkSize = max(n/2, minChunkSize)
			fmt.Fprintf(u.a.stderr, "\nthe server refused a %d-byte request (%s); sending %d bytes per request\n", n, ae.Code, u.o.chunkSize)
			known = false
			continue
		}
		if err != nil {
			known = false
			if errors.As(err, &ae) && ae.Status == http.StatusConflict {
				conflict = err
			}
			if ferr := u.failed(ctx, &failures, err); ferr != nil {
				return nil, ferr
			}
			continue
		}
		failures = 0
		if next <= off || next > u.size {
			return nil, fmt.Errorf("the server answered Upload-Offset %d to a PATCH at %d", next, off)
		}
		off = next
		if res != nil {
			return res, nil
		}
	}
}

// failed decides after a failed request whether to try again (after a pause) or give
// up, returning the error to give up with.
func (u *tusUpload) failed(ctx context.Context, failures *int, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !retryable(err) {
		return err
	}
	*failures++
	if *failures > u.o.retries {
		return fmt.Errorf("giving up after %d failed attempts in a row: %w", *failures, err)
	}
	wait := retryWait(*failures, err)
	fmt.Fprintf(u.a.stderr, "\nrequest failed (%v); retrying in %s\n", err, wait.Round(time.Millisecond))
	return sleepContext(ctx, wait)
}

// retrying runs a request outside send (the creation POST, the first HEAD of a
// resumed upload) until it succeeds, with send's rules: a network failure, a server
// error, 423 or 429 is tried again after a pause (Retry-After, else a growing
// backoff), at most --retries times in a row. A conflict (409, 460) is an answer
// about the upload that no fresh HEAD resolves here, and is returned at once, as is
// every other refusal.
func (u *tusUpload) retrying(ctx context.Context, do func() error) error {
	failures := 0
	for {
		err := do()
		var ae *apiError
		if err == nil || errors.As(err, &ae) && (ae.Status == http.StatusConflict || ae.Status == 460) {
			return err
		}
		if ferr := u.failed(ctx, &failures, err); ferr != nil {
			return ferr
		}
	}
}

// retryable: a network failure, a server error, or a conflict that a fresh HEAD
// resolves (offset mismatch 409, upload locked 423, checksum mismatch 460).
func retryable(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusConflict, http.StatusLocked, 460, http.StatusTooManyRequests:
			return true
		}
		return ae.Status >= 500
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return false
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// patch sends bytes [off, off+n) of the file. The answer's Upload-Offset is where
// the server stands now; the request that completes the upload also carries the
// content's URL and key.
func (u *tusUpload) patch(ctx context.Context, off, n int64) (int64, *uploadResult, error) {
	sec := io.NewSectionReader(u.f, off, n)
	var sum string
	if u.o.checksum {
		h := sha1.New()
		if _, err := io.Copy(h, sec); err != nil {
			return 0, nil, err
		}
		sum = "sha1 " + base64.StdEncoding.EncodeToString(h.Sum(nil))
		if _, err := sec.Seek(0, io.SeekStart); err != nil {
			return 0, nil, err
		}
	}
	// Wrapped so that net/http cannot rewind and resend the body on its own: every
	// resend goes through a HEAD first.
	req, err := u.cl.newRequest(ctx, http.MethodPatch, u.url, io.NopCloser(u.bar.Reader(sec)))
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = n
	// The server refuses a PATCH it will not take (a wrong offset, a body limit, a
	// lost lock) before the body is sent, instead of after megabytes of it.
	req.Header.Set("Expect", "100-continue")
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	if sum != "" {
		req.Header.Set("Upload-Checksum", sum)
	}
	resp, err := u.cl.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, nil, readAPIError(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	next, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("the server's PATCH answer has no valid Upload-Offset")
	}
	if next == u.size {
		if res := resultFromHeaders(resp.Header); res != nil {
			return next, res, nil
		}
		res, err := u.result(ctx)
		return next, res, err
	}
	return next, nil, nil
}

// resultFromHeaders reads the completion headers (Lectern-Content-Url, -Key, -Name,
// -Size, Lectern-Handout-Id), or returns nil if they are absent.
func resultFromHeaders(h http.Header) *uploadResult {
	if h.Get("Lectern-Content-Url") == "" || h.Get("Lectern-Content-Key") == "" {
		return nil
	}
	size, _ := strconv.ParseInt(h.Get("Lectern-Content-Size"), 10, 64)
	return &uploadResult{URL: h.Get("Lectern-Content-Url"), Key: h.Get("Lectern-Content-Key"),
		Name: h.Get("Lectern-Content-Name"), Size: size, Handout: h.Get("Lectern-Handout-Id")}
}

// result fetches the stored content's description from GET <upload>/result (after a
// completion whose answer was lost).
func (u *tusUpload) result(ctx context.Context) (*uploadResult, error) {
	var res uploadResult
	if err := u.cl.doJSON(ctx, http.MethodGet, u.url+"/result", nil, &res); err != nil {
		return nil, fmt.Errorf("fetching the upload's result: %w", err)
	}
	if res.URL == "" || res.Key == "" {
		return nil, errors.New("the upload's result has no URL or key")
	}
	return &res, nil
}

// statePath names the state file of one (server, conference, purpose, file) upload;
// a changed file (size or modification time) gets a new one.
func (a *app) statePath(dir string, st uploadState) (string, error) {
	if dir == "" {
		dir = a.getenv("LECTERN_STATE_DIR")
	}
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for the resume state (use --state-dir): %w", err)
		}
		dir = filepath.Join(cache, "lectern", "uploads")
	}
	id := sha256.Sum256([]byte(strings.Join([]string{st.Server, st.Conference, st.Purpose, st.Path,
		strconv.FormatInt(st.Size, 10), strconv.FormatInt(st.ModTime.UnixNano(), 10)}, "\n")))
	return filepath.Join(dir, hex.EncodeToString(id[:])+".json"), nil
}

func loadState(path string) (uploadState, bool) {
	var st uploadState
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &st) != nil || st.URL == "" {
		return uploadState{}, false
	}
	return st, true
}

// saveState writes the state file atomically (temporary file, then rename).
func saveState(path string, st uploadState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
