package pull

import (
	"net/url"
	"testing"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/whip"
)

// A pull that expands has an http(s) endpoint with a host and valid local names, whatever the
// input; nothing panics.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"http://10.0.0.5:8081", "https://a.example/", "http://a:8081/whep/cam1", "wss://x", "http://u:p@h/x", "http://[::1]:1", ":", "http://%zz"} {
		f.Add(s, "cam1", "Stream-", 3)
	}
	f.Fuzz(func(t *testing.T, source, remote, local string, qty int) {
		specs, err := Expand(source, remote, local, qty%(MaxQty+2))
		if err != nil {
			return
		}
		for _, sp := range specs {
			u, err := url.Parse(sp.Endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Fatalf("endpoint %q from source %q", sp.Endpoint, source)
			}
			if hub.ValidateName(sp.Local) != nil {
				t.Fatalf("local name %q accepted", sp.Local)
			}
			// An empty userinfo ("http://@h") has nothing to hide, so the check is on what the
			// redacted URL carries, not on whether it contains "@".
			if src, err := url.Parse(sp.Source); err == nil && src.User != nil {
				red, err := url.Parse(whip.RedactURL(sp.Source))
				if err != nil || red.User == nil || red.User.Username() != "***" || hasPassword(red.User) {
					t.Fatalf("credentials of %q not redacted: %q", sp.Source, whip.RedactURL(sp.Source))
				}
			}
		}
	})
}

func hasPassword(u *url.Userinfo) bool {
	_, ok := u.Password()
	return ok
}
