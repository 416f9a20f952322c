// Package graphiql serves the GraphiQL 4 IDE at /graphiql fully offline: the
// page is our own template, and GraphiQL, React and ReactDOM are the npm UMD
// builds embedded in the binary (fetched at build time by fetch-assets.sh and
// pinned by SHA-256). Nothing is loaded from a CDN, and a strict CSP keeps it
// that way.
package graphiql

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"time"

	_ "embed"
)

// Options configures Handler. Zero values take the defaults shown.
type Options struct {
	// Endpoint is the GraphQL path the page talks to (default "/graphql").
	// It must be a same-origin path: the CSP allows no other host. The
	// websocket URL for subscriptions is derived from it (ws/wss, same host).
	Endpoint string
	// Title is the page title (default "appmanage GraphiQL").
	Title string
	// BasePath is where the page is served (default "/graphiql"); assets are
	// under BasePath + "/assets/".
	BasePath string
}

const (
	defaultEndpoint = "/graphql"
	defaultTitle    = "appmanage GraphiQL"
	defaultBasePath = "/graphiql"

	immutableCache = "public, max-age=31536000, immutable"
)

// The pathPattern keeps paths safe to put into a ServeMux pattern and a page.
var pathPattern = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// Handler returns the handler for the page at BasePath and its assets under
// BasePath/assets/. It matches on the full request path, so mount it on the
// base path and its subtree, e.g. mux.Handle("/graphiql", h) and
// mux.Handle("/graphiql/", h), or chi's r.Mount("/graphiql", h).
//
// It panics on an Endpoint or BasePath that is not a plain absolute path, as
// http.ServeMux does on a bad pattern: that is a programming error.
func Handler(opts Options) http.Handler {
	return newHandler(opts, embeddedVendor())
}

func newHandler(opts Options, vendor fs.FS) http.Handler {
	opts = withDefaults(opts)
	if !pathPattern.MatchString(opts.BasePath) {
		panic(fmt.Sprintf("graphiql: BasePath %q is not a plain absolute path", opts.BasePath))
	}
	if !pathPattern.MatchString(opts.Endpoint) {
		panic(fmt.Sprintf("graphiql: Endpoint %q is not a plain absolute path", opts.Endpoint))
	}
	h := &handler{opts: opts, assets: loadAssets(vendor)}
	if h.assets.err == nil {
		var buf bytes.Buffer
		if err := pageTemplate.Execute(&buf, h.pageData()); err != nil {
			panic(fmt.Sprintf("graphiql: rendering page: %v", err)) // template and data are ours
		}
		h.page = buf.Bytes()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+opts.BasePath, h.servePage)
	mux.HandleFunc("GET "+opts.BasePath+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, opts.BasePath, http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET "+opts.BasePath+"/assets/{name}", h.serveAsset)
	return mux
}

func withDefaults(o Options) Options {
	if o.Endpoint == "" {
		o.Endpoint = defaultEndpoint
	}
	if o.Title == "" {
		o.Title = defaultTitle
	}
	if o.BasePath == "" {
		o.BasePath = defaultBasePath
	}
	o.BasePath = strings.TrimSuffix(o.BasePath, "/")
	return o
}

type handler struct {
	opts   Options
	assets assetSet
	page   []byte // rendered once; nil when assets are missing
}

type assetRef struct {
	URL string
	SRI string
}

type pageData struct {
	Title    string
	Endpoint string
	Styles   []assetRef
	Scripts  []assetRef
}

func (h *handler) ref(name string) assetRef {
	a := h.assets.byName[name]
	return assetRef{
		URL: h.opts.BasePath + "/assets/" + a.name + "?v=" + a.version(),
		SRI: a.sri,
	}
}

func (h *handler) pageData() pageData {
	return pageData{
		Title:    h.opts.Title,
		Endpoint: h.opts.Endpoint,
		Styles:   []assetRef{h.ref("graphiql.min.css"), h.ref("page.css")},
		// Order matters: GraphiQL's UMD build reads the React globals.
		Scripts: []assetRef{
			h.ref("react.production.min.js"),
			h.ref("react-dom.production.min.js"),
			h.ref("graphiql.min.js"),
			h.ref("boot.js"),
		},
	}
}

func (h *handler) unavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, "GraphiQL is unavailable in this build: %v\n"+
		"The GraphiQL/React files come from npm at build time: run `make web-assets`, then rebuild.\n", h.assets.err)
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	if h.assets.err != nil {
		h.unavailable(w)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy(r.Host))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, "graphiql.html", time.Time{}, bytes.NewReader(h.page))
}

func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets.byName[r.PathValue("name")]
	if !ok {
		if h.assets.err != nil {
			h.unavailable(w)
			return
		}
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("ETag", `"`+a.sha256Hex+`"`)
	// Only a URL carrying the current content hash may be cached forever;
	// anything else revalidates (cheap, thanks to the ETag).
	if r.URL.Query().Get("v") == a.version() {
		hdr.Set("Cache-Control", immutableCache)
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

// hostPattern accepts a Host header fit to appear in a CSP source: a name or
// IP literal with an optional port, and nothing that could end the directive.
var hostPattern = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

// contentSecurityPolicy allows only same-origin resources. Scripts are all
// files (no inline code). Inline styles are allowed because GraphiQL's
// dialogs inject a <style> element whose text (a scrollbar width) varies, so
// no hash fits; with every fetch/img/font limited to 'self' and data:, CSS
// cannot send anything off the host. data: is needed for the fonts and icons
// inlined in GraphiQL's CSS. The websocket origins are listed because older
// browsers do not count ws(s) as 'self'.
func contentSecurityPolicy(host string) string {
	connect := "'self'"
	if hostPattern.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src " + connect,
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}
