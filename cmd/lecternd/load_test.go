package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/encryption"
)

// TestEndToEndUnderLoad drives a real lecternd (race-built under `go test -race`), on
// each backend, with everything at once: tus uploads of slides and handouts in small
// PATCHes, downloads of what they stored, slide sets created, renamed and deleted, and
// two event streams open throughout. Every request must succeed, every download must
// decrypt to its upload, each stream must carry every event once and in order, and
// afterwards lecternd stops cleanly and the store passes fsck.
func TestEndToEndUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of load on a real lecternd, on each backend")
	}
	for name, backend := range testBackends() {
		t.Run(name, func(t *testing.T) { underLoad(t, backend(t)) })
	}
}

func underLoad(t *testing.T, b testBackend) {
	e, p := newE2E(t, b.args...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streams := []*eventLog{e.collectEvents(ctx), e.collectEvents(ctx)}

	const uploaders, editors, setsEach = 8, 4, 5
	var (
		wg      sync.WaitGroup
		errs    = make(chan error, uploaders+editors)
		mu      sync.Mutex
		stored  []string // content names
		handout []string // content URLs of the handouts
		created []string // slide set ids
		deleted []string
	)
	for i := range uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			purpose := []string{"slide", "handout"}[i%2]
			name, url, key, err := e.uploadAndCheck(fmt.Sprintf("load-%d.pdf", i), purpose, 300_000+i*250_000)
			if err != nil {
				errs <- fmt.Errorf("uploader %d: %w", i, err)
				return
			}
			mu.Lock()
			stored = append(stored, name)
			if purpose == "handout" {
				handout = append(handout, url)
			}
			mu.Unlock()
			if purpose == "handout" {
				return // the server referenced it
			}
			// Slide content is referenced by the slide that shows it.
			var set struct{ ID string }
			if err := e.try("POST", "/v1/conferences/e2e/slidesets", fmt.Sprintf(`{"name":"uploads %d"}`, i), 201, &set); err != nil {
				errs <- fmt.Errorf("uploader %d: %w", i, err)
				return
			}
			slide := fmt.Sprintf(`{"kind":"snapshot","name":"page","image":{"name":%q,"key":%q}}`, name, key)
			if err := e.try("POST", "/v1/conferences/e2e/slidesets/"+set.ID+"/slides", slide, 201, nil); err != nil {
				errs <- fmt.Errorf("uploader %d: %w", i, err)
				return
			}
			mu.Lock()
			created = append(created, set.ID)
			mu.Unlock()
		}()
	}
	for i := range editors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range setsEach {
				var set struct{ ID string }
				if err := e.try("POST", "/v1/conferences/e2e/slidesets", fmt.Sprintf(`{"name":"deck %d-%d"}`, i, j), 201, &set); err != nil {
					errs <- fmt.Errorf("editor %d: %w", i, err)
					return
				}
				path := "/v1/conferences/e2e/slidesets/" + set.ID
				if err := e.try("PATCH", path, fmt.Sprintf(`{"name":"renamed %d-%d"}`, i, j), 200, nil); err != nil {
					errs <- fmt.Errorf("editor %d: %w", i, err)
					return
				}
				mu.Lock()
				created = append(created, set.ID)
				mu.Unlock()
				if j%2 == 0 {
					if err := e.try("DELETE", path, "", 204, nil); err != nil {
						errs <- fmt.Errorf("editor %d: %w", i, err)
						return
					}
					mu.Lock()
					deleted = append(deleted, set.ID)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"status":503`) || strings.Contains(line, `"level":"WARN"`) {
				t.Logf("lecternd: %s", line)
			}
		}
		t.FailNow()
	}

	want := map[string]int{}
	for _, n := range stored {
		want["content.ready "+n]++
	}
	for _, url := range handout {
		want["handout.added "+url]++
	}
	for _, id := range created {
		want["slideset.created "+id]++
		want["slideset.changed "+id]++
	}
	for _, id := range deleted {
		want["slideset.deleted "+id]++
	}
	for i, s := range streams {
		if err := s.waitFor(want, 30*time.Second); err != nil {
			t.Errorf("event stream %d: %v", i, err)
		}
	}
	cancel()
	for i, s := range streams {
		if err := s.final(want); err != nil {
			t.Errorf("event stream %d: %v", i, err)
		}
	}

	if code := p.stop(t); code != 0 {
		t.Fatalf("lecternd exited with %d on SIGTERM after the load", code)
	}
	fsck(t, e, b)
}

// try makes one request as the presenter, from any goroutine, and checks its status;
// out, when set, receives the JSON answer.
func (e *e2e) try(method, path, body string, want int, out any) error {
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.presenter)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// uploadAndCheck uploads size random bytes with tus in 256 KiB PATCHes, downloads
// the stored ciphertext, decrypts it, compares it with what was sent, and returns the
// content's name, URL and key. It may run in any goroutine.
func (e *e2e) uploadAndCheck(filename, purpose string, size int) (name, url, keyHex string, err error) {
	data := make([]byte, size)
	rand.Read(data)
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte(filename)) + ",purpose " + base64.StdEncoding.EncodeToString([]byte(purpose))
	req, _ := http.NewRequest("POST", e.base+"/v1/conferences/e2e/uploads", nil)
	req.Header.Set("Authorization", "Bearer "+e.presenter)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(size))
	req.Header.Set("Upload-Metadata", meta)
	resp, err := e.client.Do(req)
	if err != nil {
		return "", "", "", err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.Contains(loc, "/v1/") {
		return "", "", "", fmt.Errorf("creating the upload: %d, Location %q", resp.StatusCode, loc)
	}
	loc = loc[strings.Index(loc, "/v1/"):]
	var last http.Header
	for off := 0; off < size; off += 256 << 10 {
		req, _ := http.NewRequest("PATCH", e.base+loc, bytes.NewReader(data[off:min(off+256<<10, size)]))
		req.Header.Set("Authorization", "Bearer "+e.presenter)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", strconv.Itoa(off))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := e.client.Do(req)
		if err != nil {
			return "", "", "", fmt.Errorf("PATCH at %d: %w", off, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return "", "", "", fmt.Errorf("PATCH at %d: %d: %s", off, resp.StatusCode, bytes.TrimSpace(body))
		}
		last = resp.Header
	}
	url, name = last.Get("Lectern-Content-Url"), last.Get("Lectern-Content-Name")
	keyHex = last.Get("Lectern-Content-Key")
	key, err := encryption.ParseKey(keyHex)
	if err != nil || url == "" || name == "" {
		return "", "", "", fmt.Errorf("the last PATCH named no content (url %q, name %q, key: %v)", url, name, err)
	}
	req, _ = http.NewRequest("GET", e.base+url, nil)
	req.Header.Set("Authorization", "Bearer "+e.presenter)
	resp, err = e.client.Do(req)
	if err != nil {
		return "", "", "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", "", fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	r, err := encryption.NewReader(resp.Body, key)
	if err != nil {
		return "", "", "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", "", "", fmt.Errorf("decrypting the download: %w", err)
	}
	if [32]byte(h.Sum(nil)) != sha256.Sum256(data) {
		return "", "", "", errors.New("the download differs from the upload")
	}
	return name, url, keyHex, nil
}

// eventLog is one event stream's events as they arrive, read by a goroutine of its
// own so that the server never waits for the test.
type eventLog struct {
	mu     sync.Mutex
	seen   map[string]int // "kind subject" → how many times
	epoch  string         // of the first event's id ("<epoch>-<seq>")
	lastID uint64         // its seq
	order  error          // the first event whose id did not grow within one epoch
	done   chan struct{}  // closed when the stream has ended and every event is logged
}

// collectEvents opens an event stream as the presenter and logs it until ctx ends.
func (e *e2e) collectEvents(ctx context.Context) *eventLog {
	e.t.Helper()
	l := &eventLog{seen: map[string]int{}, done: make(chan struct{})}
	evs := e.events(ctx)
	go func() {
		defer close(l.done)
		for ev := range evs {
			data, _ := ev["data"].(map[string]any)
			var subject any
			switch kind, _ := ev["kind"].(string); {
			case strings.HasPrefix(kind, "slideset."):
				subject = data["slideset"]
			case strings.HasPrefix(kind, "handout."):
				subject = data["url"]
			default:
				subject = data["name"]
			}
			rawID, _ := ev["id"].(string)
			epoch, seqText, _ := strings.Cut(rawID, "-")
			seq, err := strconv.ParseUint(seqText, 10, 64)
			l.mu.Lock()
			l.seen[fmt.Sprintf("%v %v", ev["kind"], subject)]++
			if l.epoch == "" {
				l.epoch = epoch
			}
			if (err != nil || epoch != l.epoch || seq <= l.lastID) && l.order == nil {
				l.order = fmt.Errorf("event id %q after %s-%d", rawID, l.epoch, l.lastID)
			}
			l.lastID = seq
			l.mu.Unlock()
		}
	}()
	return l
}

// final waits for the stream to have ended (its context cancelled) and checks that it
// carried exactly the wanted events: waitFor stops as soon as the wanted counts are
// there, so an event repeated late, or one nobody caused, shows only here.
func (l *eventLog) final(want map[string]int) error {
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		return errors.New("the event stream did not end after its context was cancelled")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var wrong []string
	for k, n := range l.seen {
		if want[k] != n {
			wrong = append(wrong, fmt.Sprintf("%s: %d, want %d", k, n, want[k]))
		}
	}
	for k, n := range want {
		if l.seen[k] == 0 && n != 0 {
			wrong = append(wrong, fmt.Sprintf("%s: 0, want %d", k, n))
		}
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		return fmt.Errorf("%d events repeated, unexpected or missing at the end, e.g. %s", len(wrong), wrong[0])
	}
	return nil
}

// waitFor waits until the log holds every wanted event exactly as many times as
// wanted, and reports what is missing or repeated when it does not within d.
func (l *eventLog) waitFor(want map[string]int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		l.mu.Lock()
		var wrong []string
		for k, n := range want {
			if l.seen[k] != n {
				wrong = append(wrong, fmt.Sprintf("%s: %d, want %d", k, l.seen[k], n))
			}
		}
		order := l.order
		l.mu.Unlock()
		if order != nil {
			return order
		}
		if len(wrong) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d events missing or repeated, e.g. %s", len(wrong), wrong[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
