package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files of the help texts")

// runIn runs the command line with ctx.
func runIn(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every bad configuration is reported by config check with its key, and serve refuses it with
// the same words before it binds a port or creates the recordings directory.
func TestConfigCheckAndServeRefuseTheSame(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		yaml string
		env  map[string]string
		want []string
	}{
		{name: "http", args: []string{"--http", "nowhere"}, want: []string{`http: "nowhere" is not a host:port address`}},
		{name: "http port", args: []string{"--http", "127.0.0.1:70000"}, want: []string{`http: "127.0.0.1:70000": the port must be from 0 to 65535`}},
		{name: "udp port", args: []string{"--udp", ":99999"}, want: []string{`udp: ":99999": the port must be from 0 to 65535`}},
		{name: "pprof", args: []string{"--pprof", "localhost"}, want: []string{`pprof: "localhost" is not a host:port address`}},
		{name: "dir", args: []string{"--dir", ""}, want: []string{"dir: must not be empty"}},
		{name: "tls half", args: []string{"--tls-cert", "/nonexistent/cert.pem"}, want: []string{"tls: give both tls.cert and tls.key"}},
		{name: "tls files", args: []string{"--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"},
			want: []string{"tls.cert, tls.key: tls certificate: stat /nonexistent/cert.pem"}},
		{name: "public_ips", args: []string{"--public-ips", "203.0.113.7,not-an-ip"}, want: []string{`public_ips: "not-an-ip" is not an IP address`}},
		{name: "udp_read_interval", args: []string{"--udp-read-interval", "1s"}, want: []string{"udp_read_interval: 1s must be between 0 and 100ms"}},
		{name: "log", args: []string{"--log-level", "loud"}, want: []string{`log.level: "loud" is not debug, info, warn or error`}},
		{name: "sessions", args: []string{"--sessions-connect-timeout", "0s"}, want: []string{"sessions.connect_timeout: 0s must be positive"}},
		{name: "hub", args: []string{"--hub-queue-packets", "1"}, want: []string{"hub.queue_packets: 1 must be at least 16"}},
		{name: "record rotation", args: []string{"--record-rotation", "10x"},
			want: []string{`record.rotation: invalid recording options: rotation "10x": use a duration`}},
		{name: "record formats", args: []string{"--record-formats", "h264-avi"},
			want: []string{`record.formats: invalid recording options: record format "h264-avi": use CODEC-mp4 or CODEC-webm`}},
		{name: "record template", args: []string{"--record-template", "../../etc/x"},
			want: []string{`record.template: "../../etc/x": invalid file name template: '/' is not allowed`}},
		{name: "record fsync", args: []string{"--record-fsync", "sometimes"}, want: []string{`record.fsync: "sometimes" is not never, close or interval`}},
		{name: "record page cache", args: []string{"--record-page-cache", "evict"}, want: []string{`record.page_cache: "evict" is not drop or keep`}},
		{name: "gc percent", args: []string{"--gc-percent", "5"}, want: []string{`gc_percent: 5 must be between 10 and 1000`}},
		{name: "record mode", args: []string{"--record-file-mode", "rw"}, want: []string{`record.file_mode: "rw" is not octal permissions`}},
		{name: "disk min_free", args: []string{"--disk-min-free", "200%"}, want: []string{`disk.min_free: "200%" is not a percentage from 0% to 100%`}},
		{name: "disk max_segment", args: []string{"--disk-max-segment", "1s"}, want: []string{`disk.max_segment: "1s" is not auto, off or a duration from 10s to 24h`}},
		{name: "disk policy", args: []string{"--disk-policy", "panic"}, want: []string{`disk.policy: "panic" is not delete-oldest or stop-new`}},
		{name: "s3 bucket", args: []string{"--s3-endpoint", "s3.example.com:9000"}, want: []string{"s3.bucket: required with s3.endpoint"}},
		{name: "s3 part size", args: []string{"--s3-part-size", "1MiB"}, want: []string{"s3.part_size: 1MiB: S3 needs at least 5MiB"}},
		{name: "webhooks", args: []string{"--webhooks-timeout", "0s"}, want: []string{"webhooks.timeout: 0s must be positive"}},
		{name: "metrics", args: []string{"--metrics-degraded-window", "30s"}, want: []string{"metrics.degraded_window: 30s must be between 1s and 15s"}},
		{name: "auth networks", args: []string{"--auth-trusted-networks", "10.0.0.0/33"}, want: []string{`auth.trusted_networks: "10.0.0.0/33" is not a network`}},
		{name: "auth token", args: []string{"--auth-tokens", `[{"name":"cams","sha256":"abc","scopes":["watch"]}]`},
			want: []string{"auth.tokens[0].sha256: must be the 64 hex digits", `auth.tokens[0].scopes: "watch" is not publish, read, record or admin`}},
		{name: "auth key file", args: []string{"--auth-jwt-public-key-file", "/nonexistent/jwt.pem"},
			want: []string{"auth.jwt_public_key_file: open /nonexistent/jwt.pem"}},
		{name: "limits", args: []string{"--limits-viewers", "-1"}, want: []string{"limits.viewers: -1 must not be negative"}},
		{name: "pull", args: []string{"--pull-max-pulls", "0", "--pull-allowed-sources", "user@host"},
			want: []string{"pull.max_pulls: 0 must be positive", `pull.allowed_sources: allowed source "user@host" is not a host name, address or network`}},
		{name: "pulls", args: []string{"--pulls", `[{"source":"wss://a:8443","remote":"cam"},{"source":"http://a:8081","remote":"x","local":"cam"},{"source":"http://b:8081","remote":"cam"}]`},
			want: []string{`pulls[0]: invalid pull: source "wss://a:8443" must be an http:// or https:// URL`, "pulls[2]: local stream name is already in use: cam is pulled twice"}},
		{name: "unknown yaml keys", yaml: "record:\n  rotaton: 10s\nhtp: :80\ndisk:\n  min_fre: 5%\n",
			want: []string{"bad.yaml:2: record.rotaton: unknown key (did you mean record.rotation?)",
				"bad.yaml:3: htp: unknown key (did you mean http?)", "bad.yaml:5: disk.min_fre: unknown key (did you mean disk.min_free?)"}},
		{name: "bad yaml values", yaml: "hub:\n  queue_packets: many\nrecord:\n  streams: cam-*\n  fragment: [1s]\n",
			want: []string{`bad.yaml:2: hub.queue_packets: "many" is not a whole number`,
				`bad.yaml:4: record.streams: expected a list such as [a, b], got "cam-*"`, "bad.yaml:5: record.fragment: expected a single value, got a list"}},
		{name: "bad env value", env: map[string]string{"VIGIL_RECORD_FRAGMENT": "soon"},
			want: []string{`VIGIL_RECORD_FRAGMENT (record.fragment): "soon" is not a duration such as 10s or 500ms`}},
		{name: "bad flag value", args: []string{"--shutdown-grace", "soon"},
			want: []string{`--shutdown-grace (shutdown_grace): "soon" is not a duration such as 10s or 500ms`}},
		{name: "several at once", yaml: "log:\n  lvel: debug\nrecord:\n  rotation: 10x\n",
			env:  map[string]string{"VIGIL_HUB_QUEUE_PACKETS": "lots"},
			args: []string{"--udp", ":99999", "--disk-hard-floor", "half", "--limits-candidates", "x"},
			want: []string{"bad.yaml:2: log.lvel: unknown key (did you mean log.level?)", `record.rotation: invalid recording options: rotation "10x"`,
				`VIGIL_HUB_QUEUE_PACKETS (hub.queue_packets): "lots" is not a whole number`, `udp: ":99999"`,
				`disk.hard_floor: "half" is not a size`, `--limits-candidates (limits.candidates): "x" is not a whole number`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range os.Environ() {
				if k, _, _ := strings.Cut(s, "="); strings.HasPrefix(k, "VIGIL_") {
					t.Setenv(k, "")
					require.NoError(t, os.Unsetenv(k))
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			tmp := t.TempDir()
			dir := filepath.Join(tmp, "recordings")
			args := []string{"--dir", dir, "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"}
			if tc.yaml != "" {
				file := filepath.Join(tmp, "bad.yaml")
				require.NoError(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
				args = append(args, "--config", file)
			}
			args = append(args, tc.args...)

			code, out, checkErr := run(append([]string{"config", "check"}, args...)...)
			require.Equal(t, 1, code, "stdout %q stderr %q", out, checkErr)
			require.Empty(t, out)
			require.True(t, strings.HasPrefix(checkErr, "vigil config: invalid configuration:\n"), checkErr)
			for _, w := range tc.want {
				require.Contains(t, checkErr, w)
			}
			require.Equal(t, len(tc.want), strings.Count(checkErr, "\n  "), "one line per problem:\n%s", checkErr)

			// A context already ended: were the configuration let through, serve would stop at once
			// rather than hang the test, and the directory would exist.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			code, out, serveErr := runIn(ctx, append([]string{"serve"}, args...)...)
			require.Equal(t, 1, code, "stdout %q stderr %q", out, serveErr)
			require.Equal(t, strings.Replace(checkErr, "vigil config:", "vigil serve:", 1), serveErr)
			_, err := os.Stat(dir)
			require.ErrorIs(t, err, os.ErrNotExist, "serve created the recordings directory before refusing")
		})
	}
}

func TestServeHelpGolden(t *testing.T) {
	code, out, errOut := run("serve", "-h")
	require.Equal(t, 0, code)
	require.Empty(t, errOut)
	golden := filepath.Join("testdata", "serve-help.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./internal/cli -run TestServeHelpGolden -update to write it")
	require.Equal(t, string(want), out, "serve -h changed; rerun with -update if that is intended")

	// One line per flag, and every setting's line has its help, default and variable.
	for _, line := range strings.Split(strings.TrimRight(out[strings.Index(out, "Flags:\n")+len("Flags:\n"):], "\n"), "\n") {
		require.True(t, strings.HasPrefix(line, "  -"), "line %q", line)
		if !strings.HasPrefix(line, "  -config ") {
			require.Regexp(t, `^  -[a-z0-9-]+ (string|int|bool|duration|size|list|json) +[^ (].* \(default .*; env VIGIL_[A-Z0-9_]+\)$`, line)
		}
	}
}

func TestTopLevelHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help", "help"} {
		code, out, errOut := run(arg)
		require.Equal(t, 0, code, arg)
		require.Empty(t, errOut, arg)
		require.Contains(t, out, "vigil config check [flags]", arg)
		require.Contains(t, out, "vigil publish [flags]", arg)
		require.NotContains(t, out, "-http", arg)
	}
	for _, cmd := range [][]string{{"publish"}, {"bench"}, {"token"}, {"config", "check"}, {"config", "print"}} {
		code, out, errOut := run(append(cmd, "-h")...)
		require.Equal(t, 0, code, cmd)
		require.Empty(t, errOut, cmd)
		require.True(t, strings.HasPrefix(out, "Usage: vigil "+strings.Join(cmd, " ")), "%v: %q", cmd, out)
	}
}

func TestBadFlagIsOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--foo"}, "vigil serve: flag provided but not defined: -foo (see vigil serve -h)\n"},
		{[]string{"--foo"}, "vigil serve: flag provided but not defined: -foo (see vigil serve -h)\n"},
		{[]string{"config", "check", "--foo"}, "vigil config check: flag provided but not defined: -foo (see vigil config check -h)\n"},
		{[]string{"publish", "--foo"}, "vigil publish: flag provided but not defined: -foo (see vigil publish -h)\n"},
		{[]string{"bench", "--foo"}, "vigil bench: flag provided but not defined: -foo (see vigil bench -h)\n"},
		{[]string{"token", "--foo"}, "vigil token: flag provided but not defined: -foo (see vigil token -h)\n"},
		{[]string{"publish", "--count", "x"}, "vigil publish: invalid value \"x\" for flag -count: parse error (see vigil publish -h)\n"},
		{[]string{"serve", "--http"}, "vigil serve: flag needs an argument: -http (see vigil serve -h)\n"},
		{[]string{"serve", "--record-rotaton", "10s"},
			"vigil serve: flag provided but not defined: -record-rotaton (did you mean -record-rotation?) (see vigil serve -h)\n"},
	} {
		code, out, errOut := run(tc.args...)
		require.Equal(t, 2, code, tc.args)
		require.Empty(t, out, tc.args)
		require.Equal(t, tc.want, errOut, tc.args)
	}
}
