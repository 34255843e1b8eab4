package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/vigilrec/vigil/internal/auth"
)

// runToken makes a random bearer token and prints it with the auth.tokens entry that grants it:
// the configuration keeps only the hash.
func runToken(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", stdout, stderr)
	name := fs.String("name", "token", "the token's name in logs and errors")
	scopes := fs.String("scopes", "publish", "comma-separated scopes: publish, read, record, admin")
	streams := fs.String("streams", "", `comma-separated stream-name patterns ("cam-*"); empty: every stream`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var scopeList, streamList []string
	for _, s := range strings.Split(*scopes, ",") {
		s = strings.TrimSpace(s)
		switch auth.Scope(s) {
		case auth.Publish, auth.Read, auth.Record, auth.Admin:
			scopeList = append(scopeList, s)
		default:
			return fmt.Errorf("%w: scope %q is not publish, read, record or admin", errUsage, s)
		}
	}
	for _, s := range strings.Split(*streams, ",") {
		if s = strings.TrimSpace(s); s != "" {
			streamList = append(streamList, fmt.Sprintf("%q", s))
		}
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("random token: %w", err)
	}
	token := "vgl_" + base64.RawURLEncoding.EncodeToString(raw)
	fmt.Fprintf(stdout, "token (give it to the client; it is not stored): %s\n\n", token)
	fmt.Fprintf(stdout, "auth:\n  tokens:\n    - {name: %q, sha256: %q, scopes: [%s], streams: [%s]}\n",
		*name, auth.HashToken(token), strings.Join(scopeList, ", "), strings.Join(streamList, ", "))
	return nil
}
