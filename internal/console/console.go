// Package console serves vigil's web console from the binary (embed.FS, no build step, nothing
// from elsewhere): the console at / (streams, publishing from the browser, pulls, recordings,
// storage), the same page at /publish opened on its publishing view, and a player page per
// stream at /watch/{name} that other sites may embed in an iframe. The pages only call the HTTP
// API, with the bearer token the user gives them.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// csp keeps the pages to their own scripts and styles and to this server.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"

// Routes registers the console's pages and files with register (pattern, handler).
func Routes(register func(pattern string, h http.HandlerFunc)) {
	assets, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/console/", http.FileServerFS(assets))
	register("GET /{$}", page(assets, "index.html", "'self'"))
	register("GET /publish", page(assets, "index.html", "'self'"))
	register("GET /watch/{name}", page(assets, "watch.html", "*"))
	register("GET /console/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// page serves one HTML page; frameAncestors says who may show it in a frame.
func page(assets fs.FS, name, frameAncestors string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := fs.ReadFile(assets, name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", csp+"; frame-ancestors "+frameAncestors)
		_, _ = w.Write(body)
	}
}
