package deploy_test

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/cli"
	"github.com/vigilrec/vigil/internal/testutil"
)

// podman runs podman commands with a configuration of the test's own.
type podman struct {
	t    *testing.T
	bin  string
	conf string
}

func (p podman) run(ctx context.Context, args ...string) string {
	p.t.Helper()
	return run(p.t, ctx, "", []string{"CONTAINERS_CONF=" + p.conf}, p.bin, args...)
}

// try runs a podman command and returns its combined output and error, for the commands whose
// failure is the answer.
func (p podman) try(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// newPodman writes the configuration podman runs with here. As root, podman raises a
// container's open-file and process limits to its own maxima, which a sandboxed CI machine
// without CAP_SYS_RESOURCE refuses; the limits here are ones any process may set. runc and
// cgroupfs work on machines without systemd and with hybrid cgroups, where crun does not.
func newPodman(t *testing.T) podman {
	bin := tool(t, "PODMAN", "podman")
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	nofile := min(lim.Cur, 65536)
	conf := fmt.Sprintf("[containers]\ndefault_ulimits = [\"nofile=%d:%d\", \"nproc=4096:4096\"]\n[engine]\ncgroup_manager = \"cgroupfs\"\n",
		nofile, nofile)
	if _, err := exec.LookPath("runc"); err == nil {
		conf += "runtime = \"runc\"\n"
	}
	path := filepath.Join(t.TempDir(), "containers.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	return podman{t: t, bin: bin, conf: path}
}

// builderImage makes the Dockerfile's build stage image from this machine, since CI reaches no
// container registry: a static busybox for the shell, root certificates, and the Go toolchain
// that runs this test, mounted at build time rather than copied. The Dockerfile is built
// unchanged, with GO_IMAGE pointing here instead of the official golang image.
func builderImage(t *testing.T, ctx context.Context, p podman, tag string) {
	busybox := tool(t, "", "busybox")
	f, err := elf.Open(busybox)
	require.NoError(t, err)
	for _, prog := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, prog.Type, "%s is dynamically linked: install busybox-static", busybox)
	}
	_ = f.Close()

	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc/ssl/certs", "root", "usr/local/go", "go"} {
		require.NoError(t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	require.NoError(t, os.Mkdir(filepath.Join(rootfs, "tmp"), 0o777))
	require.NoError(t, os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777))
	run(t, ctx, "", nil, "cp", busybox, filepath.Join(rootfs, "bin/busybox"))
	for _, applet := range []string{"sh", "mkdir", "mv", "chmod", "sha256sum", "dirname", "cat", "ls", "rm", "cp"} {
		require.NoError(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)))
	}
	run(t, ctx, "", nil, "cp", "/etc/ssl/certs/ca-certificates.crt", filepath.Join(rootfs, "etc/ssl/certs/"))
	goproxy := strings.TrimSpace(run(t, ctx, "", nil, "go", "env", "GOPROXY"))
	dockerfile := "FROM scratch\nCOPY rootfs/ /\n" +
		"ENV PATH=/usr/local/go/bin:/bin HOME=/root GOPATH=/go GOTOOLCHAIN=local GOFLAGS=-mod=readonly GOPROXY=" + goproxy + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644))
	p.run(ctx, "build", "--quiet", "-t", tag, dir)
}

// TestContainerImage builds the Dockerfile, runs the image, and checks what an operator relies
// on: it runs as an unprivileged user, answers /healthz (and its own HEALTHCHECK), says which
// build it is, records a published stream into the /recordings volume, and stops gracefully
// with every file finished.
func TestContainerImage(t *testing.T) {
	p := newPodman(t)
	testutil.NeedFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Scaled(10*time.Minute))
	defer cancel()

	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	builder, image, name := "localhost/vigil-test-go:"+id, "localhost/vigil-test:"+id, "vigil-test-"+id
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = p.try(ctx, "rm", "--force", "--time", "0", name)
		_, _ = p.try(ctx, "rmi", "--force", image, builder)
	})
	builderImage(t, ctx, p, builder)

	goroot := strings.TrimSpace(run(t, ctx, "", nil, "go", "env", "GOROOT"))
	modcache := strings.TrimSpace(run(t, ctx, "", nil, "go", "env", "GOMODCACHE"))
	gocache := strings.TrimSpace(run(t, ctx, "", nil, "go", "env", "GOCACHE"))
	const version, commit, date = "9.8.7-test", "0123456789abcdef", "2026-12-03T00:00:00Z"
	// --format docker keeps the HEALTHCHECK; chroot isolation runs the build steps without a
	// container runtime of their own; the caches are mounted only to spare the build its time.
	p.run(ctx, "build", "--format", "docker", "--isolation", "chroot", "--network", "host",
		"-v", goroot+":/usr/local/go:ro", "-v", modcache+":/go/pkg/mod", "-v", gocache+":/root/.cache/go-build",
		"--build-arg", "GO_IMAGE="+builder, "--build-arg", "VERSION="+version,
		"--build-arg", "COMMIT="+commit, "--build-arg", "DATE="+date,
		"-t", image, root)

	var inspect []struct {
		Architecture string
		Config       struct {
			User         string
			ExposedPorts map[string]any
			Volumes      map[string]any
			Entrypoint   []string
		}
		HealthCheck struct{ Test []string }
	}
	require.NoError(t, json.Unmarshal([]byte(p.run(ctx, "image", "inspect", image)), &inspect))
	require.Len(t, inspect, 1)
	img := inspect[0]
	require.Equal(t, runtime.GOARCH, img.Architecture)
	require.Equal(t, "65532:65532", img.Config.User)
	require.Contains(t, img.Config.ExposedPorts, "8081/tcp")
	require.Contains(t, img.Config.ExposedPorts, "8189/udp")
	require.Contains(t, img.Config.Volumes, "/recordings")
	require.Equal(t, []string{"CMD", "/usr/local/bin/vigil", "healthcheck"}, img.HealthCheck.Test)

	// The host's network, so the ICE candidates the server announces are reachable from here;
	// a directory of the test as the volume, writable by the image's user.
	recordings := t.TempDir()
	require.NoError(t, os.Chown(recordings, 65532, 65532))
	httpPort, udpPort := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "udp")
	server := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	p.run(ctx, "run", "--detach", "--name", name, "--network", "host", "-v", recordings+":/recordings",
		"-e", fmt.Sprintf("VIGIL_HTTP=127.0.0.1:%d", httpPort), "-e", fmt.Sprintf("VIGIL_UDP=127.0.0.1:%d", udpPort),
		"-e", "VIGIL_RECORD_AUTO=all", image)
	testutil.WaitFor(t, "/healthz from the container", testutil.Scaled(60*time.Second), func() bool {
		resp, err := http.Get(server + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	out, err := p.try(ctx, "healthcheck", "run", name)
	require.NoError(t, err, "the image's HEALTHCHECK: %s", out)

	v := p.run(ctx, "exec", name, "/usr/local/bin/vigil", "version")
	require.Contains(t, v, "vigil "+version+"\n")
	require.Contains(t, v, "commit:   "+commit+"\n")
	require.Contains(t, v, "built:    "+date+"\n")
	resp, err := http.Get(server + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Contains(t, string(metrics), `vigil_build_info{commit="`+commit+`",goversion="`+runtime.Version()+`",version="`+version+`"} 1`)

	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, []string{"publish", "--server", server, "--name", "cam-1", "--duration", "5s", "--status", "0"},
		&stdout, &stderr)
	require.Equal(t, 0, code, "vigil publish: %s%s", stdout.String(), stderr.String())

	// A graceful stop finishes the recording: the container exits 0 and no unfinished file is left.
	p.run(ctx, "stop", "--time", "30", name)
	state := strings.TrimSpace(p.run(ctx, "inspect", "--format", "{{.State.ExitCode}}", name))
	require.Equal(t, "0", state, "exit code; logs:\n%s", p.run(ctx, "logs", name))
	var files []string
	entries, err := os.ReadDir(recordings)
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			files = append(files, e.Name())
		}
	}
	require.Len(t, files, 1, "recordings: %v", files)
	require.True(t, strings.HasPrefix(files[0], "cam-1") && strings.HasSuffix(files[0], ".mp4"), files[0])
	path := filepath.Join(recordings, files[0])
	probe := testutil.FFprobe(t, path)
	t.Logf("recorded in the container: %s, %.1f s, %v", files[0], probe.Duration, probe.Codecs())
	require.ElementsMatch(t, []string{"h264", "opus"}, probe.Codecs())
	require.Greater(t, probe.Duration, 3.0)
	testutil.FFmpegDecode(t, path)
}
