package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPullsFromFileEnvAndFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vigil.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`pulls:
  - {source: "http://10.0.0.5:8081", remote: cam1, local: "Stream-", qty: 100}
  - source: http://10.0.0.6:8889/lobby/whep
    local: lobby
`), 0o600))
	none := func(string) (string, bool) { return "", false }
	c, err := Load(file, none, nil)
	require.NoError(t, err)
	require.Equal(t, Pulls{
		{Source: "http://10.0.0.5:8081", Remote: "cam1", Local: "Stream-", Qty: 100},
		{Source: "http://10.0.0.6:8889/lobby/whep", Local: "lobby"},
	}, c.Pulls)

	env := map[string]string{"VIGIL_PULLS": `[{"source":"http://a:8081","remote":"cam","local":"S-","qty":3}]`}
	c, err = Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	require.NoError(t, err)
	require.Equal(t, Pulls{{Source: "http://a:8081", Remote: "cam", Local: "S-", Qty: 3}}, c.Pulls, "env over file")

	for _, s := range Settings(&c) {
		if s.Key() == "pulls" {
			require.Equal(t, env["VIGIL_PULLS"], s.String(), "printed as it is read")
			require.NoError(t, s.Set(""))
		}
	}
	require.Equal(t, Pulls{}, c.Pulls)
}

// The pulls themselves are checked by the pull package's parser when the server checks its
// configuration (app.Check); here only their shape.
func TestBadPulls(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", "pulls: [{source: 'http://a:8081', remote: cam, count: 2}]\n", "bad.yaml:1: pulls[0].count: unknown key"},
		{"not a list", "pulls: {source: 'http://a:8081'}\n", "bad.yaml:1: pulls: expected a list, got a mapping"},
		{"bad qty", "pulls:\n  - source: http://a:8081\n    qty: many\n", `bad.yaml:3: pulls[0].qty: "many" is not a whole number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.yaml")
			require.NoError(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
			_, err := Load(file, func(string) (string, bool) { return "", false }, nil)
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), tc.want), "error %q lacks %q", err, tc.want)
		})
	}
	var p Pulls
	require.ErrorContains(t, p.Set("not a list"), "not a list of pulls")
}
