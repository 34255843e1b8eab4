package pull

import (
	"net/url"
	"strings"
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
			if src, err := url.Parse(sp.Source); err == nil && src.User != nil {
				if strings.Contains(whip.RedactURL(sp.Source), src.User.String()+"@") {
					t.Fatalf("credentials of %q not redacted", sp.Source)
				}
			}
		}
	})
}
