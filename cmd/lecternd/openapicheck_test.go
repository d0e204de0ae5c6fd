package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The end-to-end tests judge every answer of lecternd against docs/openapi.yaml as
// their client receives it (kin-openapi, a library made for this, rather than a
// hand-written reader of the document): the status must be one the operation lists,
// a JSON body must match the schema listed for its status and content type, another
// body must be of a content type listed for it, and every error answer must be the
// one error shape, ErrorBody, with the status of the answer; the headers an answer
// declares must match, HEAD answers' included (kin-openapi skips HEAD: they are
// validated as GET's headers without a body); and a request lecternd served (2xx)
// must have path parameters of the patterns the document gives (upload, slide,
// conference ids…), so that the ids a client is handed are of the announced form.
// A client written from the document alone then meets no answer the document does
// not announce. TestCheckerJudgesWhatItClaims shows each of these parts catching a
// wrong declaration.
//
// Not judged, because the document cannot describe them or judging would change what
// the tests drive: an answer cut before its JSON body was read (the caller gets the
// read error: a dropped connection is no answer); the status of a request on a path
// and method no operation has (the document cannot list unknown routes: only their
// error shape is checked, and only 404 and 405 are allowed there); and the bytes of a
// body that is not JSON (downloads, the event stream, XML, metrics), whose content
// type alone is checked, since reading them here would change the streaming, stalls
// and ranges the tests exercise (the event data is checked by
// TestEventDataMatchesTheDocument).

// specChecker validates answers against the document and collects what does not match.
type specChecker struct {
	router  routers.Router
	errBody *openapi3.Schema

	mu       sync.Mutex
	problems []string
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErrs   *openapi3.Schema
	specErr    error
)

// newSpecChecker returns a checker whose mismatches fail t when it ends (they are
// collected, not reported at once, because requests are also sent from goroutines
// that may outlive their test's last check).
func newSpecChecker(t testing.TB) *specChecker {
	t.Helper()
	specOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromFile(openapiFile)
		if err != nil {
			specErr = err
			return
		}
		specRouter, specErrs, specErr = checkerParts(doc)
	})
	if specErr != nil {
		t.Fatalf("%s: %v", openapiFile, specErr)
	}
	c := &specChecker{router: specRouter, errBody: specErrs}
	c.failAtEnd(t)
	return c
}

// checkerParts makes the router and the error schema of a checker of doc.
func checkerParts(doc *openapi3.T) (routers.Router, *openapi3.Schema, error) {
	// No servers: the routes match on any host, lecternd's free port included.
	doc.Servers = nil
	r, err := gorillamux.NewRouter(doc)
	return r, doc.Components.Schemas["ErrorBody"].Value, err
}

// failAtEnd fails t, when it ends, with every mismatch found.
func (c *specChecker) failAtEnd(t testing.TB) {
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.problems {
			t.Errorf("docs/openapi.yaml does not describe an answer: %s", p)
		}
	})
}

func (c *specChecker) fail(req *http.Request, status int, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, fmt.Sprintf("%s %s → %d: %s", req.Method, req.URL.RequestURI(), status, fmt.Sprintf(format, args...)))
}

// transport wraps next so that every answer it brings is checked.
func (c *specChecker) transport(next http.RoundTripper) http.RoundTripper {
	return &checkingTransport{next: next, check: c}
}

type checkingTransport struct {
	next  http.RoundTripper
	check *specChecker
}

func (tr *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	var body []byte
	if req.Method != http.MethodHead && isJSON(resp.Header.Get("Content-Type")) {
		// JSON answers are small and whole: read here, and handed on unchanged (a
		// read error too). Other bodies (downloads, the event stream) are left to
		// stream: only their status, headers and content type are checked.
		var rerr error
		body, rerr = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
		if rerr != nil {
			return resp, nil // a cut answer is not judged; the caller sees the error
		}
	}
	tr.check.answer(req, resp, body)
	return resp, nil
}

// errReader returns err (io.EOF when nil) after the body read before it.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// answer checks one answer; body is the JSON body (nil for other content types).
func (c *specChecker) answer(req *http.Request, resp *http.Response, body []byte) {
	status := resp.StatusCode
	if status >= 400 && req.Method != http.MethodHead {
		c.errorShape(req, resp, body)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// No operation has this path and method. lecternd answers those 404
		// not_found or 405 method_not_allowed (checked above as errors); anything
		// else is a route the document lacks.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			c.fail(req, status, "no operation in the document: %v", err)
		}
		return
	}
	op := route.Operation
	ref := op.Responses.Status(status)
	if ref == nil {
		ref = op.Responses.Default()
	}
	if ref == nil || ref.Value == nil {
		// kin-openapi checks the status of no HEAD answer, and of no 304: both are
		// checked here, as the document lists them too.
		c.fail(req, status, "status not listed for %s", op.OperationID)
		return
	}
	ct := resp.Header.Get("Content-Type")
	jsonBody := body != nil
	if len(ref.Value.Content) > 0 && req.Method != http.MethodHead && status != http.StatusNotModified && !jsonBody {
		// A streamed body: its content type must be one listed (kin-openapi would
		// read the whole body to check it).
		if ref.Value.Content.Get(ct) == nil {
			c.fail(req, status, "content type %q not listed for %s", ct, op.OperationID)
		}
	}
	reqIn := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
	if status >= 200 && status < 300 {
		c.pathParams(reqIn, status)
	}
	if req.Method == http.MethodHead {
		// kin-openapi's ValidateResponse returns before looking at anything for HEAD.
		// A HEAD answer is GET's headers without the body: validated as that, against
		// the HEAD operation's own responses (the route found above), so that the
		// headers it declares are checked too.
		get := *req
		get.Method = http.MethodGet
		reqIn = &openapi3filter.RequestValidationInput{Request: &get, PathParams: params, Route: route}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqIn,
		Status:                 status,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: !jsonBody},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.fail(req, status, "%s: %v (body %.300s)", op.OperationID, err, body)
	}
}

// pathParams checks the path parameters of a request lecternd served (2xx) against
// the patterns the document gives them: the ids a client is handed (upload ids in a
// Location, slide and slide set ids, content names) must be of the form the document
// announces, or a client validating them from the document would refuse real ones.
// Only path parameters: the request's body was sent and is gone, its headers and
// query are the test's own choice, and security is judged by lecternd's 401 and 403.
func (c *specChecker) pathParams(in *openapi3filter.RequestValidationInput, status int) {
	route := in.Route
	params := append(openapi3.Parameters(nil), route.PathItem.Parameters...)
	params = append(params, route.Operation.Parameters...)
	for _, ref := range params {
		if ref.Value == nil || ref.Value.In != openapi3.ParameterInPath {
			continue
		}
		if err := openapi3filter.ValidateParameter(context.Background(), in, ref.Value); err != nil {
			c.fail(in.Request, status, "%s: path parameter %s: %s", route.Operation.OperationID, ref.Value.Name, firstLine(err))
		}
	}
}

// errorShape checks that an error answer is an ErrorBody with its own status.
func (c *specChecker) errorShape(req *http.Request, resp *http.Response, body []byte) {
	if body == nil {
		c.fail(req, resp.StatusCode, "error answer of content type %q, not the JSON ErrorBody", resp.Header.Get("Content-Type"))
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		c.fail(req, resp.StatusCode, "error body is not JSON: %.300s", body)
		return
	}
	if err := c.errBody.VisitJSON(v); err != nil {
		c.fail(req, resp.StatusCode, "error body %.300s is not an ErrorBody: %s", body, firstLine(err))
		return
	}
	var eb struct {
		Error struct{ Status int } `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error.Status != resp.StatusCode {
		c.fail(req, resp.StatusCode, "error body says status %d", eb.Error.Status)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// checkingProxy serves the lecternd at addr on another port of 127.0.0.1, with
// lecternd's own certificate (from dataDir), over HTTP/1.1 and HTTP/2, passing every
// answer through a checking transport: the clients a test runs as programs (curl,
// tus-js-client) are pointed at it, so that their answers are checked against
// docs/openapi.yaml like those of the test's own client. The Host header is kept, so
// that the URLs lecternd builds from it (tus's Location) lead back through the proxy.
// A request goes on to lecternd in the protocol it came in (byProto), so that what
// these clients exercise of lecternd's HTTP/2 serving is not lost on the way.
func checkingProxy(t *testing.T, addr, dataDir string) string {
	t.Helper()
	return startCheckingProxy(t, addr, dataDir).url
}

// checkedProxy is a running checkingProxy.
type checkedProxy struct {
	url      string
	upstream *byProto
}

func startCheckingProxy(t *testing.T, addr, dataDir string) *checkedProxy {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dataDir, "config", certFile), filepath.Join(dataDir, "config", keyFile))
	if err != nil {
		t.Fatal(err)
	}
	upstream := newByProto(t, dataDir)
	target := &url.URL{Scheme: "https", Host: addr}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		Transport:     newSpecChecker(t).transport(upstream),
		FlushInterval: -1, // event streams and tus answers pass at once
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	srv := httptest.NewUnstartedServer(proxy)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &checkedProxy{url: srv.URL, upstream: upstream}
}

// byProto sends a request to lecternd over HTTP/2 when it came to the proxy over
// HTTP/2 and over HTTP/1.1 otherwise (the outgoing request is a clone of the incoming
// one, ProtoMajor included). Each transport offers lecternd only its own protocol in
// ALPN, so that a lecternd that stopped serving one fails the request instead of
// being talked to in the other.
type byProto struct {
	h1, h2 http.RoundTripper

	mu   sync.Mutex
	seen []string // "<in> -> <out>" for each answer, for the proxy's own test
}

func newByProto(t *testing.T, dataDir string) *byProto {
	t.Helper()
	base := client(t, dataDir).Transport.(*http.Transport).TLSClientConfig
	h1 := base.Clone()
	h1.NextProtos = []string{"http/1.1"}
	h2 := base.Clone()
	h2.NextProtos = []string{"h2"}
	tr1 := &http.Transport{TLSClientConfig: h1}
	tr2 := &http.Transport{TLSClientConfig: h2, ForceAttemptHTTP2: true}
	t.Cleanup(tr1.CloseIdleConnections)
	t.Cleanup(tr2.CloseIdleConnections)
	return &byProto{h1: tr1, h2: tr2}
}

func (b *byProto) RoundTrip(req *http.Request) (*http.Response, error) {
	next := b.h1
	if req.ProtoMajor == 2 {
		next = b.h2
	}
	resp, err := next.RoundTrip(req)
	if err == nil {
		b.mu.Lock()
		b.seen = append(b.seen, req.Proto+" -> "+resp.Proto)
		b.mu.Unlock()
	}
	return resp, err
}
