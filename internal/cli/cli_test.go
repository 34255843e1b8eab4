package cli

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/publish"
)

func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestConfigPrintIsDefaults(t *testing.T) {
	code, out, errOut := run("config", "print")
	require.Equal(t, 0, code, errOut)
	c := config.Default()
	c.HTTP = "overwritten"
	require.NoError(t, config.ApplyYAML(&c, []byte(out), "print"))
	require.Equal(t, config.Default(), c)
}

func TestConfigFlagsAndErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
		err  string
	}{
		{"check defaults", []string{"config", "check"}, 0, "configuration is valid", ""},
		{"flag overrides", []string{"config", "print", "--http", "127.0.0.1:9999", "--dir", "/srv/rec"}, 0, "http: 127.0.0.1:9999", ""},
		{"bad value", []string{"config", "check", "--hub-queue-packets", "1"}, 1, "", "hub.queue_packets"},
		{"missing file", []string{"config", "check", "--config", "/nonexistent.yaml"}, 1, "", "/nonexistent.yaml"},
		{"no verb", []string{"config"}, 2, "", "check|print"},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"version", []string{"version"}, 0, "go:       go1.", ""},
		{"healthcheck with nothing listening", []string{"healthcheck", "--url", "http://127.0.0.1:1/healthz", "--timeout", "2s"}, 1, "", "health check"},
		{"healthcheck stray argument", []string{"healthcheck", "now"}, 2, "", "unexpected argument"},
		{"publish needs media", []string{"publish", "--no-audio", "--no-video"}, 2, "", "nothing to publish"},
		{"publish unknown clip", []string{"publish", "--codec", "av1"}, 1, "", "no built-in clip"},
		{"bench clip missing", []string{"bench", "--profile", "720p", "--out", "-"}, 2, "", "no built-in clip for h264 at 720p"},
		{"bench vp9 1080p", []string{"bench", "--codec", "vp9", "--profile", "1080p"}, 2, "", "vp9 at 240p"},
		{"bench bad topology", []string{"bench", "--topology", "mesh"}, 2, "", "--topology must be pull or direct"},
		{"bench target without name", []string{"bench", "--topology", "direct", "--target", "http://h/whip"}, 2, "", "{name}"},
		{"bench disk limit on a server", []string{"bench", "--origin", "http://a", "--recorder", "http://b", "--disk-limit", "1G"}, 2, "", "--disk-limit needs"},
		{"bench bad fail-on", []string{"bench", "--fail-on", "cpu>1"}, 2, "", `unknown figure "cpu"`},
		{"bench bad disk size", []string{"bench", "--disk-limit", "lots"}, 2, "", "not a size"},
		{"bench compare needs two", []string{"bench", "compare", "a.json"}, 2, "", "compare A.json B.json"},
		{"bench compare missing file", []string{"bench", "compare", "/nonexistent/a.json", "/nonexistent/b.json"}, 1, "", "read report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(tc.args...)
			require.Equal(t, tc.code, code, "stdout %q stderr %q", out, errOut)
			require.Contains(t, out, tc.out)
			require.Contains(t, errOut, tc.err)
		})
	}
}

func TestPublishEndpointTemplate(t *testing.T) {
	f := publishFlags{server: "http://h:8081/", name: "Stream-{i}"}
	name, url := f.endpoint(7)
	require.Equal(t, "Stream-7", name)
	require.Equal(t, "http://h:8081/whip/Stream-7", url)
	f.url = "http://m:8889/{name}/whip"
	_, url = f.endpoint(2)
	require.Equal(t, "http://m:8889/Stream-2/whip", url)
}

func TestPublishImpairmentFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags publishFlags
		want  *publish.Impairment
		err   bool
	}{
		{"none", publishFlags{}, nil, false},
		{"loss in bursts", publishFlags{lossPct: 2, burst: "5-20", seed: 7},
			&publish.Impairment{LossPct: 2, BurstMin: 5, BurstMax: 20, Seed: 7}, false},
		{"jitter and duplicates", publishFlags{jitter: 50 * time.Millisecond, duplicatePct: 3},
			&publish.Impairment{Jitter: 50 * time.Millisecond, DuplicatePct: 3}, false},
		{"bad burst", publishFlags{lossPct: 2, burst: "20-5"}, nil, true},
		{"bad percentage", publishFlags{lossPct: 120}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.flags.impairment()
			if tc.err {
				require.ErrorIs(t, err, errUsage)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
