package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/cli"
	"github.com/vigilrec/vigil/internal/testutil"
)

// sandboxRoot is a directory systemd-analyze treats as the root file system: the distribution's
// units, vigil's unit, and an executable where ExecStart names vigil (verify checks that the
// command exists, not what it is), so the check needs nothing installed on the machine.
func sandboxRoot(t *testing.T, ctx context.Context, unit string) string {
	t.Helper()
	dir := t.TempDir()
	var systemUnits string
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(d, "sysinit.target")); err == nil {
			systemUnits = d
			break
		}
	}
	require.NotEmpty(t, systemUnits, "the distribution's systemd units are not installed")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "usr/lib/systemd"), 0o755))
	run(t, ctx, "", nil, "cp", "-a", systemUnits, filepath.Join(dir, "usr/lib/systemd/system"))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "etc/systemd/system"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "etc/systemd/system/vigil.service"), []byte(unit), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "usr/local/bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "usr/local/bin/vigil"), []byte("#!/bin/sh\n"), 0o755))
	return dir
}

// TestSystemdUnitVerifies runs systemd-analyze verify on deploy/systemd/vigil.service (any
// warning fails it: verify exits 0 on unknown keys and bad values) and holds the unit's
// hardening to what systemd-analyze security rates "OK".
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := tool(t, "", "systemd-analyze")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	unit, err := os.ReadFile(filepath.Join(root, "deploy/systemd/vigil.service"))
	require.NoError(t, err)
	dir := sandboxRoot(t, ctx, string(unit))

	verify := func(name string) string {
		out, _ := exec.CommandContext(ctx, analyze, "verify", "--root="+dir, name).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	require.Empty(t, verify("vigil.service"), "systemd-analyze verify")

	// The check has teeth: a misspelt key and a bad value are reported.
	bad := strings.Replace(strings.Replace(string(unit), "ProtectSystem=strict", "ProtectSystm=strict", 1),
		"UMask=0027", "UMask=0x27", 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "etc/systemd/system/vigil-bad.service"), []byte(bad), 0o644))
	complaints := verify("vigil-bad.service")
	require.Contains(t, complaints, "Unknown key 'ProtectSystm'")
	require.Contains(t, complaints, "0x27")

	out, _ := exec.CommandContext(ctx, analyze, "security", "--offline=yes", "--root="+dir, "vigil.service").CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for vigil\.service: ([0-9.]+) (\w+)`).FindSubmatch(out)
	require.NotNil(t, m, "systemd-analyze security:\n%s", out)
	exposure, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	t.Logf("systemd-analyze security: exposure %.1f %s", exposure, m[2])
	require.LessOrEqual(t, exposure, 2.0, "the unit lost hardening:\n%s", out)
}

// TestSystemdUnitStartsVigil boots systemd (as the init of a container whose root is this
// machine's own, under a throwaway overlay, since the test machine does not run systemd itself),
// starts vigil with deploy/systemd/vigil.service unchanged, and checks it runs as the unit says:
// a dynamic user without capabilities, recordings in the state directory, a graceful stop.
func TestSystemdUnitStartsVigil(t *testing.T) {
	p := newPodman(t)
	testutil.NeedFFmpeg(t)
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		testutil.Missing(t, "systemd is not installed (bash .ci/run installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Scaled(5*time.Minute))
	defer cancel()
	bin := testutil.BuildVigil(t)

	// The unit as shipped; the ports and the recording policy come from the environment file it
	// reads, as an operator would set them.
	httpPort, udpPort := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "udp")
	etc := t.TempDir()
	env := fmt.Sprintf("VIGIL_HTTP=127.0.0.1:%d\nVIGIL_UDP=127.0.0.1:%d\nVIGIL_RECORD_AUTO=all\n", httpPort, udpPort)
	require.NoError(t, os.WriteFile(filepath.Join(etc, "vigil.env"), []byte(env), 0o644))
	state := t.TempDir() // /var/lib/private: where systemd keeps a dynamic user's state
	require.NoError(t, os.Chmod(state, 0o700))

	name := "vigil-systemd-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { _, _ = p.try(context.Background(), "rm", "--force", "--time", "0", name) })
	// notmpcopyup: the host's /run holds podman's own storage, which must not be copied into
	// the container's /run.
	p.run(ctx, "run", "--detach", "--name", name, "--systemd=always", "--network", "host",
		"--tmpfs", "/run:rw,notmpcopyup", "--tmpfs", "/tmp:rw,notmpcopyup",
		"-v", bin+":/usr/local/bin/vigil:ro",
		"-v", filepath.Join(root, "deploy/systemd/vigil.service")+":/etc/systemd/system/vigil.service:ro",
		"-v", etc+":/etc/vigil:ro", "-v", state+":/var/lib/private",
		"--rootfs", "/:O", "/lib/systemd/systemd")
	systemctl := func(args ...string) (string, error) {
		return p.try(ctx, append([]string{"exec", name, "systemctl"}, args...)...)
	}
	// The manager answers once it is up, whatever the state of the rest of the boot (units of
	// the machine's own that cannot start in a container leave it "degraded").
	testutil.WaitFor(t, "systemd in the container", testutil.Scaled(60*time.Second), func() bool {
		out, _ := systemctl("is-system-running")
		state := strings.TrimSpace(out)
		return slices.Contains([]string{"initializing", "starting", "running", "degraded", "maintenance"}, state)
	})
	out, err := systemctl("start", "vigil")
	require.NoError(t, err, out)
	server := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	testutil.WaitFor(t, "vigil under systemd answers /healthz", testutil.Scaled(60*time.Second), func() bool {
		resp, err := http.Get(server + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	pid := strings.TrimSpace(p.run(ctx, "exec", name, "systemctl", "show", "--property", "MainPID", "--value", "vigil"))
	status := p.run(ctx, "exec", name, "cat", "/proc/"+pid+"/status")
	for _, want := range []string{"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		require.Contains(t, status, want)
	}
	user := strings.TrimSpace(p.run(ctx, "exec", name, "ps", "-o", "user=", "-p", pid))
	require.Equal(t, "vigil", user)

	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, []string{"publish", "--server", server, "--name", "cam-1", "--duration", "4s", "--status", "0"},
		&stdout, &stderr)
	require.Equal(t, 0, code, "vigil publish: %s%s", stdout.String(), stderr.String())
	out, err = systemctl("stop", "vigil")
	require.NoError(t, err, out)
	journal := p.run(ctx, "exec", name, "journalctl", "--no-pager", "-u", "vigil")
	t.Logf("journal:\n%s", journal)
	require.Contains(t, journal, "Deactivated successfully", "vigil did not stop cleanly")

	files, err := filepath.Glob(filepath.Join(state, "vigil", "recordings", "cam-1*"))
	require.NoError(t, err)
	require.Len(t, files, 1, "recordings under StateDirectory")
	require.True(t, strings.HasSuffix(files[0], ".mp4"), files[0])
	testutil.FFmpegDecode(t, files[0])
}
