package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestToolchainFillsWhatTheLinkerDidNot(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	var info Info
	fromToolchain(&info, bi)
	require.Equal(t, Info{Version: "1.2.3", Commit: "abc123-dirty", Date: "2026-12-01T10:00:00Z"}, info)

	stamped := Info{Version: "0.2.0", Commit: "def456", Date: "2026-12-02T00:00:00Z"}
	info = stamped
	fromToolchain(&info, bi)
	require.Equal(t, stamped, info, "a release stamp wins over the toolchain's record")

	info = Info{}
	fromToolchain(&info, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}})
	require.Equal(t, "dev", info.Version)
}

func TestReadNamesTheToolchain(t *testing.T) {
	info := Read()
	require.Equal(t, runtime.Version(), info.Go)
	require.Equal(t, runtime.GOOS+"/"+runtime.GOARCH, info.Platform)
	require.NotEmpty(t, info.Version)
	require.NotEmpty(t, info.Commit)
	require.Contains(t, info.String(), "go:       "+runtime.Version())
}
