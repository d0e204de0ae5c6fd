package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
)

// Cross-origin resource sharing. lecternd serves no pages, so a browser client (the
// participants' WebCrypto client, a tus-js-client or Uppy upload page) always runs on
// another origin and needs CORS for every call. The header work is gin-contrib/cors;
// this file adds what it leaves out:
//   - the allow-list is checked first, and a disallowed origin is refused (403) in the
//     JSON error shape instead of the library's empty 403;
//   - an OPTIONS without Access-Control-Request-Method is not a preflight (a tus client
//     discovering the server's extensions), so it reaches its route with the normal
//     CORS headers; the library would answer it as a preflight;
//   - Vary: Origin is set on every answer, also to requests without an Origin, so that
//     a cache never hands an answer without Access-Control-Allow-Origin to a browser
//     that needs one, or the reverse.
//
// The middleware is global (before every route's authentication), so a preflight,
// which carries no token, is answered before anything asks for one, also on routes
// that have no OPTIONS handler (Gin's 405 and 404 chains include global middleware):
// no route is added for it.
//
// "*" is refused: credentials are bearer tokens in the Authorization header, which a
// page only has if the user gave it one, but some routes need none (/metrics, /readyz,
// signed content URLs), and "*" would let any page a user on the operator's network
// opens read them. Listing the web apps' origins keeps that a decision. Cookies are
// never used, so Access-Control-Allow-Credentials is never sent.

// CORSConfig configures cross-origin access for browser clients.
type CORSConfig struct {
	// Origins may call the API from a browser: serialized origins such as
	// "https://app.example.org" (scheme, host, optional port; nothing else). Empty:
	// no CORS headers at all.
	Origins []string
	// MaxAge is how long a browser may cache a preflight answer. Default 10 minutes.
	MaxAge time.Duration
}

// corsAllowHeaders are the request headers the API's own routes read.
var corsAllowHeaders = []string{
	"Authorization", "Content-Type", "Range", "If-Match", "If-None-Match",
	"If-Modified-Since", "If-Unmodified-Since", "If-Range", "Last-Event-ID", headerReqID,
}

// corsExposeHeaders are the response headers a client must read beyond the ones
// browsers always show (Content-Type, Cache-Control, Last-Modified...): validators,
// partial content, where a created thing is, when to retry, what the 401 wants.
var corsExposeHeaders = []string{
	"ETag", "Last-Modified", "Content-Range", "Content-Length", "Accept-Ranges", "Location",
	"Retry-After", "WWW-Authenticate", headerReqID,
}

var corsMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// corsState is the built middleware; rebuilt when route groups add headers.
type corsState struct {
	allowed map[string]bool
	lib     gin.HandlerFunc
	expose  string // for a non-preflight OPTIONS, which the library does not serve
}

type corsHandler struct {
	cfg    CORSConfig
	allow  []string
	expose []string
	state  atomic.Pointer[corsState]
}

// ParseOrigins splits a comma-separated origin list (flag or environment value) and
// checks every origin; "" gives none.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for o := range strings.SplitSeq(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		n, err := NormalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// ErrBadOrigin classifies a CORS origin that is not a serialized origin.
var ErrBadOrigin = errors.New("bad CORS origin")

// NormalizeOrigin checks that o is an origin as browsers send it in the Origin header
// (http or https, a host, an optional non-default port, nothing after) and returns it
// in that form: lower case, without a default port.
func NormalizeOrigin(o string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrBadOrigin, o, why)
	}
	switch o {
	case "*":
		return bad(`"*" is not accepted: list the origins of the web apps (a page on any site could otherwise read the routes that need no token)`)
	case "null":
		return bad(`"null" is the origin of sandboxed and file pages, which any page can make`)
	}
	u, err := url.Parse(o)
	if err != nil {
		return bad("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return bad("want http:// or https:// and a host, e.g. https://app.example.org")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return bad("no host")
	case u.User != nil:
		return bad("an origin has no user")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(o, "#"):
		return bad("an origin is scheme, host and port only: no path (not even a trailing /), query or fragment")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String() // the form a browser writes (::1, not 0:0:0:0:0:0:0:1)
	} else {
		switch {
		case strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "":
			// Origin holds a host name in ASCII (an international one as punycode);
			// patterns such as *.example.org are not origins.
			return bad("the host is not a plain host name (letters, digits, '.', '-'; punycode for international names)")
		case strings.HasSuffix(host, ".") || strings.Contains(host, ".."):
			return bad("the host has an empty label (a trailing dot?), which no browser's Origin has")
		case strings.Trim(host, "0123456789.") == "":
			return bad("the host looks like a shortened or malformed IPv4 address: write all four numbers (browsers send 127.0.0.1, not 127.1)")
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad("the port is not a number from 1 to 65535")
		}
		port = strconv.Itoa(n) // browsers write no leading zeros
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = "" // browsers leave a default port out of Origin
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port), nil
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host, nil
}

func newCORS(cfg CORSConfig) (*corsHandler, error) {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 10 * time.Minute
	}
	norm := make([]string, 0, len(cfg.Origins))
	for _, o := range cfg.Origins {
		n, err := NormalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(norm, n) {
			norm = append(norm, n)
		}
	}
	cfg.Origins = norm
	h := &corsHandler{cfg: cfg, allow: slices.Clone(corsAllowHeaders), expose: slices.Clone(corsExposeHeaders)}
	if err := h.build(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *corsHandler) build() error {
	c := cors.Config{
		AllowOrigins:  h.cfg.Origins,
		AllowMethods:  corsMethods,
		AllowHeaders:  h.allow,
		ExposeHeaders: h.expose,
		MaxAge:        h.cfg.MaxAge,
	}
	if err := c.Validate(); err != nil { // cors.New panics on what Validate refuses
		return fmt.Errorf("%w: %w", ErrBadOrigin, err)
	}
	st := &corsState{allowed: map[string]bool{}, lib: cors.New(c)}
	for _, o := range h.cfg.Origins {
		st.allowed[o] = true
	}
	canon := make([]string, len(h.expose))
	for i, e := range h.expose {
		canon[i] = http.CanonicalHeaderKey(e)
	}
	st.expose = strings.Join(canon, ",")
	h.state.Store(st)
	return nil
}

// add adds request and response headers of a route group and rebuilds.
func (h *corsHandler) add(allow, expose []string) {
	for _, a := range allow {
		if !slices.ContainsFunc(h.allow, func(x string) bool { return strings.EqualFold(x, a) }) {
			h.allow = append(h.allow, a)
		}
	}
	for _, e := range expose {
		if !slices.ContainsFunc(h.expose, func(x string) bool { return strings.EqualFold(x, e) }) {
			h.expose = append(h.expose, e)
		}
	}
	// The origins were accepted once; only header names changed.
	_ = h.build()
}

func (h *corsHandler) serve(c *gin.Context) {
	st := h.state.Load()
	hdr := c.Writer.Header()
	// Before anything else: the library replaces Vary where it sets headers, and
	// leaves it out where it does not (no Origin, a same-origin request).
	hdr.Add("Vary", "Origin")
	origin := c.GetHeader("Origin")
	if origin == "" {
		return
	}
	r := c.Request
	allowed := st.allowed[origin]
	switch {
	case !allowed && origin != "http://"+r.Host && origin != "https://"+r.Host:
		Fail(c, Errorf(CodeForbidden, "origin %s may not use this server from a browser (lecternd --cors-origins)", origin))
	case allowed && r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") == "":
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Expose-Headers", st.expose)
	default:
		st.lib(c) // aborts a preflight with 204; lets a same-origin request by bare
	}
}

// AddCORSHeaders lets a route group name the request headers its clients send and
// the response headers they must read (the tus upload routes), beyond the API's own.
// Without Config.CORS.Origins it does nothing. Call it while registering routes.
func (s *Server) AddCORSHeaders(allow, expose []string) {
	if s.cors == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cors.add(allow, expose)
}
