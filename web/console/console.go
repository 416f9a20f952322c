// Package console serves the web console: the single-page app built from
// this folder (package.json, src/) by `make web-console` into dist/app and
// embedded here. Unknown paths get index.html, so the app's own routes
// (/apps/x, /operations/y) survive a reload; hashed assets are cached for a
// year, index.html never.
//
// The build output is not committed. Without it (a clean clone before
// `make build`) the package still compiles, from the committed
// dist/README.md, and the console answers with a page that says how to
// build it.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Files returns the built console (index.html, assets/...), or nil when it
// was not built.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist/app")
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil
	}
	return sub
}

// Built reports whether the embedded console was built.
func Built() bool { return Files() != nil }

// csp allows nothing but the server itself: the console loads no font,
// script or image from anywhere else. Inline styles are style properties
// set from script (React's style prop), which style-src does not govern.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// notBuilt is the answer without a build.
const notBuilt = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>appmanage: console not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 4em auto; padding: 0 1em; line-height: 1.5">
<h1>Console not built</h1>
<p>This binary was built without the web console. Run <code>make build</code> (it needs Node.js 20+ and npm),
then start the server again. The API is at <code>/graphql</code>, GraphiQL at <a href="/graphiql">/graphiql</a>.</p>
</body></html>`

// Handler serves the console for GET and HEAD requests on any path it is
// mounted at (the router keeps /graphql, /graphiql, /metrics, ... for
// themselves).
func Handler() http.Handler { return handlerFor(Files()) }

// handlerFor serves files (nil: the console was not built).
func handlerFor(files fs.FS) http.Handler {
	var index []byte
	if files != nil {
		index, _ = fs.ReadFile(files, "index.html")
	}
	modTime := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if files == nil {
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(notBuilt))
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(files, name); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					// Vite names them by content hash.
					h.Set("Cache-Control", "public, max-age=31536000, immutable")
				} else {
					h.Set("Cache-Control", "no-cache")
				}
				serveFile(w, r, files, name, modTime)
				return
			}
			// A missing asset is a 404, not the app: a stale index.html
			// asking for an old bundle must fail visibly.
			if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
				http.NotFound(w, r)
				return
			}
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", csp)
		http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(index))
	})
}

// serveFile serves one file of files by its cleaned name (ServeContent
// sets the type from the extension and answers ranges and HEAD).
func serveFile(w http.ResponseWriter, r *http.Request, files fs.FS, name string, modTime time.Time) {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, name, modTime, bytes.NewReader(b))
}
