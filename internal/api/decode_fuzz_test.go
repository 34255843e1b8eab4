package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every JSON body decoder either fills its request or returns an error with a 4xx status;
// nothing panics, whatever the body.
func FuzzDecodeBodies(f *testing.F) {
	for _, s := range []string{`{}`, `{"rotation":"10s"}`, `{"rotaton":"10s"}`, `{"source":"http://a","qty":3}`,
		`{"mediaSessionId":"x","config":{"rotation":20}}`, `[`, `null`, `{"qty":1e400}`, "\x00", `{"display":["metrics"]}`} {
		f.Add(s, "application/json")
	}
	f.Add(`{}`, "text/plain")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		targets := []any{&startRequest{}, &pullRequest{}, &wcsFilter{}, &wcsRecordRequest{}, &wcsPullRequest{}}
		for _, strict := range []bool{false, true} {
			for _, v := range targets {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
				r.Header.Set("Content-Type", contentType)
				err := decodeBody(r, v, strict)
				if err == nil {
					continue
				}
				var he *httpError
				if !errors.As(err, &he) || he.status < 400 || he.status >= 500 {
					t.Fatalf("body %q: error %v is not a 4xx", body, err)
				}
			}
		}
	})
}
