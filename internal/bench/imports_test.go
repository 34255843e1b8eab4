package bench

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// bench measures any server from outside: it must not depend on the server's own packages.
func TestImportsNoServerPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/vigilrec/vigil/internal/bench").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, forbidden := range []string{"hub", "ingest", "egress", "recorder", "api", "app", "config", "pull", "catalog", "diskguard"} {
		require.NotContains(t, strings.Fields(string(out)), "github.com/vigilrec/vigil/internal/"+forbidden)
	}
}
