package hub

import (
	"strings"
	"testing"
)

// A name that passes is a plain, visible file name of safe characters, whatever the input.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"cam1", "Stream-1", "a.b_c-d", ".hidden", "-rf", "..", "a/b", "café", "", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if len(name) == 0 || len(name) > MaxNameLength || name[0] == '.' || name[0] == '-' ||
			strings.ContainsAny(name, "/\\\x00 ") || strings.IndexFunc(name, notNameRune) >= 0 {
			t.Fatalf("unsafe name %q accepted", name)
		}
	})
}
