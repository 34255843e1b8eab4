// Package deploy_test checks what an operator deploys from: the release script, the container
// image, the systemd unit and the Kubernetes manifests. Each test runs the real tool (go build,
// podman, systemd-analyze, kubeconform) and is skipped when that tool is missing, unless
// VIGIL_REQUIRE_TOOLS is set (bash .ci/run installs them all and sets it).
package deploy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/testutil"
)

// root is the repository's top directory, seen from this package.
const root = ".."

// tool finds a program a test needs (testutil.NeedTool).
func tool(t *testing.T, env, name string) string {
	t.Helper()
	return testutil.NeedTool(t, env, name)
}

// run runs a command and returns its standard output, failing the test with both outputs if
// it fails.
func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, err, "%s %s\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), stdout.String(), stderr.String())
	return stdout.String()
}

// stamp is what the release script stamps into a build of the checked-out commit.
type stamp struct{ version, commit, date string }

// gitStamp computes the stamp the way scripts/release.sh documents it, from git directly.
func gitStamp(t *testing.T) stamp {
	t.Helper()
	ctx := context.Background()
	commit := strings.TrimSpace(run(t, ctx, root, nil, "git", "rev-parse", "HEAD"))
	dirty := ""
	if strings.TrimSpace(run(t, ctx, root, nil, "git", "status", "--porcelain", "--untracked-files=no")) != "" {
		dirty = "-dirty"
	}
	version := ""
	if out, err := exec.Command("git", "-C", root, "describe", "--tags", "--match", "v[0-9]*").Output(); err == nil {
		version = strings.TrimPrefix(strings.TrimSpace(string(out)), "v") + dirty
	} else {
		version = "0.0.0-dev+" + commit[:12] + dirty
	}
	unix, err := strconv.ParseInt(strings.TrimSpace(run(t, ctx, root, nil, "git", "log", "-1", "--format=%ct", "HEAD")), 10, 64)
	require.NoError(t, err)
	date := time.Unix(unix, 0).UTC().Format(time.RFC3339)
	return stamp{version: version, commit: commit + dirty, date: date}
}

// TestReleaseBuildsBothArchitectures builds the release: both binaries static, their sums right,
// and the one this machine runs saying which commit it is.
func TestReleaseBuildsBothArchitectures(t *testing.T) {
	tool(t, "", "git")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := t.TempDir()
	run(t, ctx, root, nil, "sh", "scripts/release.sh", out)
	want := gitStamp(t)

	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	require.NoError(t, err)
	machines := map[string]elf.Machine{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		require.True(t, ok, "SHA256SUMS line %q", line)
		data, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		got := sha256.Sum256(data)
		require.Equal(t, sum, hex.EncodeToString(got[:]), name)

		f, err := elf.NewFile(bytes.NewReader(data))
		require.NoError(t, err, name)
		for _, p := range f.Progs {
			require.NotEqual(t, elf.PT_INTERP, p.Type, "%s is dynamically linked", name)
		}
		machines[name] = f.Machine
	}
	prefix := "vigil-" + want.version + "-linux-"
	require.Equal(t, map[string]elf.Machine{prefix + "amd64": elf.EM_X86_64, prefix + "arm64": elf.EM_AARCH64}, machines)

	version := run(t, ctx, out, nil, filepath.Join(out, prefix+runtime.GOARCH), "version")
	t.Logf("vigil version:\n%s", version)
	require.Equal(t, "vigil "+want.version+"\n", version[:strings.Index(version, "\n")+1])
	require.Contains(t, version, "commit:   "+want.commit+"\n")
	require.Contains(t, version, "built:    "+want.date+"\n")
	require.Contains(t, version, "linux/"+runtime.GOARCH)
}
