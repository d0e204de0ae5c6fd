package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lectern/lectern/core/encryption"
)

type downloadOptions struct {
	key     string
	keyFile string
	out     string
	rng     string
	force   bool
	retries int
}

func (a *app) downloadCommand() *cobra.Command {
	var o downloadOptions
	c := &cobra.Command{
		Use:   "download (--key HEX | --key-file F) [--out FILE] [--range A-B] URL-or-PATH",
		Short: "Download content, decrypting and verifying it while it streams",
		Long: `Download the ciphertext of a content file (GET /v1/content/<organizer>/<conference>/<name>,
with the bearer token, or a signed URL without one), decrypt it with its key and verify
it: every segment and the end of the file are authenticated. The plaintext goes to a
temporary file next to --out that is renamed only once everything verified, so a failed
download leaves nothing behind. With --out - the plaintext goes to stdout as it is
verified; a failure then ends the stream early with exit code 1.

--range A-B (bytes A to B inclusive, or A- to the end) downloads and decrypts only the
segments that cover those plaintext bytes.

A transfer that breaks off (a dropped connection, a restarting server) is resumed
where it stopped, with Range and If-Match, after a growing pause (--retries).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.download(cmd.Context(), args[0], o) },
	}
	f := c.Flags()
	f.StringVar(&o.key, "key", "", "content key, 64 hex characters (also env LECTERN_CONTENT_KEY; a flag is visible in the process list)")
	f.StringVar(&o.keyFile, "key-file", "", "file holding the content key")
	f.StringVar(&o.out, "out", "", "output file, or - for stdout (default: the content name without the .e of its type)")
	f.StringVar(&o.rng, "range", "", "plaintext byte range A-B (inclusive) or A-")
	f.BoolVar(&o.force, "force", false, "replace --out if it exists")
	f.IntVar(&o.retries, "retries", 10, "failed attempts in a row to resume a broken transfer before giving up")
	return c
}

func (a *app) contentKey(o downloadOptions) (encryption.Key, error) {
	text := o.key
	if text == "" && o.keyFile != "" {
		b, err := os.ReadFile(o.keyFile)
		if err != nil {
			return encryption.Key{}, fmt.Errorf("--key-file: %w", err)
		}
		text = string(b)
	}
	if text == "" {
		text = a.getenv("LECTERN_CONTENT_KEY")
	}
	if text == "" {
		return encryption.Key{}, usagef("download needs the content key: --key, --key-file or LECTERN_CONTENT_KEY")
	}
	k, err := encryption.ParseKey(strings.ToLower(strings.TrimSpace(text)))
	if err != nil {
		return encryption.Key{}, usagef("the content key must be 64 hex characters")
	}
	return k, nil
}

// parseRange reads "A-B" or "A-" into an offset and a length (-1: to the end).
func parseRange(s string) (int64, int64, error) {
	as, bs, ok := strings.Cut(s, "-")
	off, err := strconv.ParseInt(as, 10, 64)
	if !ok || err != nil || off < 0 {
		return 0, 0, usagef("--range must be A-B or A- with byte offsets, like 0-1023")
	}
	if bs == "" {
		return off, -1, nil
	}
	end, err := strconv.ParseInt(bs, 10, 64)
	if err != nil || end < off {
		return 0, 0, usagef("--range must be A-B with A <= B")
	}
	return off, end - off + 1, nil
}

// defaultOutName turns a content name into a file name: x<hex>.epng -> x<hex>.png,
// <hex>.blb -> <hex>.bin.
func defaultOutName(name string) string {
	base, ext, _ := strings.Cut(name, ".")
	switch {
	case ext == "blb":
		return base + ".bin"
	case strings.HasPrefix(ext, "e") && len(ext) > 1:
		return base + "." + ext[1:]
	}
	return name
}

func (a *app) download(ctx context.Context, ref string, o downloadOptions) error {
	key, err := a.contentKey(o)
	if err != nil {
		return err
	}
	var off, n int64 = 0, -1
	if o.rng != "" {
		if off, n, err = parseRange(o.rng); err != nil {
			return err
		}
	}
	cl, err := a.client(false)
	if err != nil {
		return err
	}
	u, err := cl.resolve(ref)
	if err != nil {
		return err
	}
	if u.Query().Get("sig") == "" && cl.sameOrigin(u) {
		// Not a signed URL: the bearer token authorizes the download.
		if cl.token, err = a.resolveToken(); err != nil {
			return err
		}
	}
	out := o.out
	if out == "" {
		out = defaultOutName(path.Base(u.Path))
		if out == "" || out == "." || out == "/" {
			return usagef("cannot name the output after %q: use --out", ref)
		}
	}
	if out != "-" && !o.force {
		if _, err := os.Lstat(out); err == nil {
			return usagef("%s exists (use --force to replace it)", out)
		}
	}
	w, err := newOutput(out, a.stdout)
	if err != nil {
		return err
	}
	defer w.abort()
	var written int64
	if o.rng == "" {
		written, err = a.downloadFull(ctx, cl, u.String(), key, w, o.retries)
	} else {
		written, err = a.downloadRange(ctx, cl, u.String(), key, off, n, w, o.retries)
	}
	if err != nil {
		if errors.Is(err, encryption.ErrAuthentication) || errors.Is(err, encryption.ErrTruncated) || errors.Is(err, encryption.ErrFormat) {
			if out == "-" {
				// Segments go out as they verify: what was written is genuine, but
				// the rest is missing.
				return fmt.Errorf("verification failed after %d bytes written; the rest is missing: the key is wrong or the content is damaged: %w", written, err)
			}
			return fmt.Errorf("verification failed, nothing written: the key is wrong or the content is damaged: %w", err)
		}
		return err
	}
	if err := w.commit(); err != nil {
		return err
	}
	if out != "-" {
		fmt.Fprintf(a.stderr, "downloaded and verified %d bytes to %s\n", written, out)
	}
	return nil
}

// get sends a GET and checks the status.
func (cl *client) get(ctx context.Context, url string, header http.Header, want ...int) (*http.Response, error) {
	req, err := cl.newRequest(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return nil, err
	}
	for _, s := range want {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, readAPIError(resp)
}

// resumeNotice tells the user that a broken transfer is being resumed.
func (a *app) resumeNotice(err error, at int64, wait time.Duration) {
	fmt.Fprintf(a.stderr, "\ntransfer broke off at byte %d (%v); resuming in %s\n", at, err, wait.Round(time.Millisecond))
}

func (a *app) downloadFull(ctx context.Context, cl *client, url string, key encryption.Key, w *output, retries int) (int64, error) {
	resp, err := cl.get(ctx, url, nil, http.StatusOK)
	if err != nil {
		return 0, err
	}
	body := newResumingBody(ctx, cl, url, resp, 0, resp.ContentLength-1, retries, a.resumeNotice)
	defer body.Close()
	bar := a.newProgress(resp.ContentLength, "downloading")
	r, err := encryption.NewReader(bar.Reader(body), key)
	if err != nil {
		bar.Abandon()
		return 0, err
	}
	n, err := io.Copy(w, r)
	if err != nil {
		bar.Abandon()
		return n, err
	}
	bar.Finish()
	return n, nil
}

// downloadRange fetches the header, then exactly the segments that cover the range.
func (a *app) downloadRange(ctx context.Context, cl *client, url string, key encryption.Key, off, n int64, w *output, retries int) (int64, error) {
	resp, err := cl.get(ctx, url, http.Header{"Range": {fmt.Sprintf("bytes=0-%d", encryption.HeaderSize-1)}}, http.StatusPartialContent, http.StatusOK)
	if err != nil {
		return 0, err
	}
	hb, err := io.ReadAll(io.LimitReader(resp.Body, encryption.HeaderSize))
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	total := resp.ContentLength
	if resp.StatusCode == http.StatusPartialContent {
		if total, err = contentRangeTotal(resp.Header.Get("Content-Range")); err != nil {
			return 0, err
		}
	}
	etag := resp.Header.Get("ETag")
	h, err := encryption.ParseHeader(hb)
	if err != nil {
		return 0, err
	}
	size, err := h.PlaintextSize(total)
	if err != nil {
		return 0, err
	}
	if off > size || (off == size && size > 0) {
		return 0, usagef("--range starts at %d, past the end of the content (%d bytes)", off, size)
	}
	start, length, err := h.CiphertextRange(total, off, n)
	if err != nil {
		return 0, err
	}
	hdr := http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", start, start+length-1)}}
	if etag != "" {
		hdr.Set("If-Match", etag) // the same object as the header came from
	}
	resp, err = cl.get(ctx, url, hdr, http.StatusPartialContent)
	if err != nil {
		return 0, err
	}
	if cr := resp.Header.Get("Content-Range"); !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-%d/", start, start+length-1)) {
		resp.Body.Close()
		return 0, fmt.Errorf("the server answered a different range (%q)", cr)
	}
	body := newResumingBody(ctx, cl, url, resp, start, start+length-1, retries, a.resumeNotice)
	defer body.Close()
	bar := a.newProgress(length, "downloading range")
	r, err := encryption.NewRangeReader(bar.Reader(body), key, h, total, off, n)
	if err != nil {
		bar.Abandon()
		return 0, err
	}
	written, err := io.Copy(w, r)
	if err != nil {
		bar.Abandon()
		return written, err
	}
	bar.Finish()
	want := size - off
	if n >= 0 {
		want = min(n, want)
	}
	if written != want {
		return written, fmt.Errorf("decrypted %d bytes of the range, expected %d: %w", written, want, encryption.ErrTruncated)
	}
	return written, nil
}

// contentRangeTotal reads the complete length from "bytes a-b/total".
func contentRangeTotal(cr string) (int64, error) {
	_, total, ok := strings.Cut(cr, "/")
	n, err := strconv.ParseInt(total, 10, 64)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("the server sent no usable Content-Range (%q)", cr)
	}
	return n, nil
}

// output is the destination of plaintext: a temporary file renamed into place by
// commit (and removed by abort unless committed), or stdout.
type output struct {
	w         io.Writer
	tmp       *os.File
	final     string
	committed bool
}

func newOutput(name string, stdout io.Writer) (*output, error) {
	if name == "-" {
		return &output{w: stdout}, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".part-*")
	if err != nil {
		return nil, err
	}
	return &output{w: tmp, tmp: tmp, final: name}, nil
}

func (o *output) Write(p []byte) (int, error) { return o.w.Write(p) }

func (o *output) commit() error {
	if o.tmp == nil {
		return nil
	}
	if err := o.tmp.Sync(); err != nil {
		return err
	}
	if err := o.tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(o.tmp.Name(), o.final); err != nil {
		return err
	}
	o.committed = true
	return nil
}

func (o *output) abort() {
	if o.tmp != nil && !o.committed {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
	}
}
