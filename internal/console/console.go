// Package console serves vigil's built-in web pages from the binary (embed.FS). For now that is the
// browser publishing page at /publish: camera and microphone to WHIP, with no install.
package console

import (
	"embed"
	"net/http"
)

//go:embed static/publish.html
var static embed.FS

// PublishPage serves the browser publishing page.
func PublishPage() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		page, err := static.ReadFile("static/publish.html")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	}
}
