package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	Routes(func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, h) })
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// The pages load only their own files, the player page may be framed by anyone and the console
// by itself only, and every file the pages name is served with its type.
func TestPagesAndFiles(t *testing.T) {
	for _, tc := range []struct{ path, ancestors, contains string }{
		{"/", "frame-ancestors 'self'", `src="/console/console.js"`},
		{"/publish", "frame-ancestors 'self'", `id="publish-form"`},
		{"/watch/cam1", "frame-ancestors *", `src="/console/watch.js"`},
	} {
		w := serve(t, tc.path)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", tc.path, w.Code)
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.HasSuffix(csp, tc.ancestors) {
			t.Errorf("%s: Content-Security-Policy %q", tc.path, csp)
		}
		if !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("%s does not contain %s", tc.path, tc.contains)
		}
	}
	for _, f := range []struct{ path, ctype string }{
		{"/console/console.js", "text/javascript"}, {"/console/watch.js", "text/javascript"},
		{"/console/api.js", "text/javascript"}, {"/console/webrtc.js", "text/javascript"},
		{"/console/console.css", "text/css"},
	} {
		w := serve(t, f.path)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), f.ctype) {
			t.Errorf("%s: %d %q", f.path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	if w := serve(t, "/console/nosuch.js"); w.Code != http.StatusNotFound {
		t.Errorf("a missing file: %d", w.Code)
	}
	// Every script a page loads is an embedded file.
	for _, page := range []string{"/", "/watch/x"} {
		body := serve(t, page).Body.String()
		for _, part := range strings.Split(body, `src="`)[1:] {
			src := part[:strings.IndexByte(part, '"')]
			if w := serve(t, src); w.Code != http.StatusOK {
				t.Errorf("%s loads %s: %d", page, src, w.Code)
			}
		}
	}
}
