package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func repoFile(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join("..", "..", name)
}

// The shipped example must load to exactly the built-in defaults, so it can be trusted as the
// reference of what the server does with no configuration.
func TestExampleFileIsDefaults(t *testing.T) {
	c := Default()
	require.NoError(t, ApplyFile(&c, repoFile(t, "config.example.yaml")))
	require.Equal(t, Default(), c)
	require.NoError(t, c.Validate())
}

// Every setting is documented in the example file and in docs/configuration.md.
func TestEverySettingDocumented(t *testing.T) {
	example, err := os.ReadFile(repoFile(t, "config.example.yaml"))
	require.NoError(t, err)
	docs, err := os.ReadFile(repoFile(t, "docs/configuration.md"))
	require.NoError(t, err)
	def := Default()
	for _, s := range Settings(&def) {
		leaf := s.Path[len(s.Path)-1]
		require.Contains(t, string(example), leaf+":", "config.example.yaml lacks %s", s.Key())
		require.Contains(t, string(docs), "`"+s.Key()+"`", "docs/configuration.md lacks %s", s.Key())
		require.Contains(t, string(docs), s.Env(), "docs/configuration.md lacks %s", s.Env())
		require.Contains(t, string(docs), "`--"+s.Flag()+"`", "docs/configuration.md lacks --%s", s.Flag())
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	require.NoError(t, os.WriteFile(file, []byte("http: 127.0.0.1:9000\nudp: 127.0.0.1:9001\nsessions:\n  connect_timeout: 5s\n"), 0o600))
	env := map[string]string{"VIGIL_UDP": "127.0.0.1:9002", "VIGIL_DIR": "/data/rec",
		"VIGIL_HUB_QUEUE_PACKETS": "512", "VIGIL_PUBLIC_IPS": "203.0.113.7, 203.0.113.8"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	var fv FlagValues
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fv.Register(fs)
	require.NoError(t, fs.Parse([]string{"--dir", "/flag/rec", "--udp-receive-buffer", "4MiB"}))

	c, err := Load(file, lookup, &fv)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9000", c.HTTP)            // file
	require.Equal(t, "127.0.0.1:9002", c.UDP)             // env over file
	require.Equal(t, "/flag/rec", c.Dir)                  // flag over env
	require.Equal(t, 512, c.Hub.QueuePackets)             // env
	require.Equal(t, ByteSize(4<<20), c.UDPReceiveBuffer) // flag
	require.Equal(t, 5*time.Second, c.Sessions.ConnectTimeout.D())
	require.Equal(t, []string{"203.0.113.7", "203.0.113.8"}, c.PublicIPs)
}

func TestScriptSettingNames(t *testing.T) {
	// Scripts depend on these exact names.
	def := Default()
	names := map[string]string{}
	for _, s := range Settings(&def) {
		names[s.Flag()] = s.Env()
	}
	require.Equal(t, "VIGIL_HTTP", names["http"])
	require.Equal(t, "VIGIL_UDP", names["udp"])
	require.Equal(t, "VIGIL_DIR", names["dir"])
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "htp: :80\n", "bad.yaml:1: htp: unknown key (did you mean http?)"},
		{"bad duration", "shutdown_grace: soon\n", "not a duration"},
		{"bad size", "udp_receive_buffer: lots\n", "not a size"},
		{"bad address", "http: nowhere\n", "http: \"nowhere\" is not a host:port"},
		{"bad level", "log:\n  level: loud\n", "log.level"},
		{"bad ip", "public_ips: [not-an-ip]\n", "public_ips"},
		{"small queue", "hub:\n  queue_packets: 1\n", "hub.queue_packets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.yaml")
			require.NoError(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
			_, err := Load(file, func(string) (string, bool) { return "", false }, nil)
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), tc.want), "error %q lacks %q", err, tc.want)
		})
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
	}{{"4096", 4096}, {"8MiB", 8 << 20}, {"512KiB", 512 << 10}, {"10M", 10e6}, {"1G", 1e9}, {"2GiB", 2 << 30}} {
		var b ByteSize
		require.NoError(t, b.Set(tc.in), tc.in)
		require.Equal(t, tc.want, b, tc.in)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	out, err := Marshal(Default())
	require.NoError(t, err)
	c := Default()
	c.HTTP = "changed"
	require.NoError(t, ApplyYAML(&c, out, "printed"))
	require.Equal(t, Default(), c)
}

// Every setting's flag help comes from its field's doc comment: none may be missing, and the
// subject of the sentence is left out.
func TestEverySettingHasHelp(t *testing.T) {
	def := Default()
	for _, s := range Settings(&def) {
		require.NotEmpty(t, s.Doc(), "%s has no doc comment", s.Key())
		help := s.Help()
		require.NotContains(t, help, "\n", s.Key())
		require.True(t, strings.HasSuffix(help, "; env "+s.Env()+")"), "%s: %q", s.Key(), help)
		require.False(t, strings.HasPrefix(help, s.field), "%s: %q keeps its subject", s.Key(), help)
	}
	var rotation, grace Setting
	for _, s := range Settings(&def) {
		switch s.Key() {
		case "record.rotation":
			rotation = s
		case "record.grace":
			grace = s
		}
	}
	require.Equal(t, `cuts recordings into segments: a duration ("20s", or "20" for seconds), a size ("10M"), or "off" (also "0") for one file per recording (default off; env VIGIL_RECORD_ROTATION)`, rotation.Help())
	require.Equal(t, "duration", grace.Type())
}

// A file's every unknown key and bad value is reported at once, each with its line and path.
func TestYAMLReportsEveryProblem(t *testing.T) {
	c := Default()
	err := ApplyYAML(&c, []byte(`http: 127.0.0.1:9000
sesions:
  connect_timeout: 5s
record:
  rotaton: 10s
  grace: later
  streams: [a, [b]]
auth:
  tokens:
    - {name: a, sha: x}
limits: 3
`), "f.yaml")
	require.Error(t, err)
	require.Equal(t, []string{
		"f.yaml:2: sesions: unknown key (did you mean sessions?)",
		"f.yaml:5: record.rotaton: unknown key (did you mean record.rotation?)",
		`f.yaml:6: record.grace: "later" is not a duration such as 10s or 500ms`,
		"f.yaml:7: record.streams[1]: expected a text value, got a list",
		"f.yaml:10: auth.tokens[0].sha: unknown key (known keys here: name, sha256, scopes, streams)",
		`f.yaml:11: limits: expected a mapping of keys, got "3"`,
	}, strings.Split(err.Error(), "\n"))
	require.Equal(t, "127.0.0.1:9000", c.HTTP, "good values are applied")
	require.Equal(t, Default().Record.Grace, c.Record.Grace, "a bad value keeps the one before")

	c = Default()
	require.ErrorContains(t, ApplyYAML(&c, []byte("http: [\n"), "f.yaml"), "f.yaml: yaml: line")
	require.EqualError(t, ApplyYAML(&c, []byte("rotation: 10s\n"), "f.yaml"),
		"f.yaml:1: rotation: unknown key (did you mean record.rotation?)")
	require.EqualError(t, ApplyYAML(&c, []byte("log:\n  level: debug\n  level: info\n"), "f.yaml"),
		"f.yaml:3: log.level: given twice (first on line 2)")

	// Anchors and merge keys work as YAML defines them.
	c = Default()
	require.NoError(t, ApplyYAML(&c, []byte("pulls:\n  - &p {source: 'http://a:8081', remote: cam}\n  - <<: *p\n    local: copy\n"), "f.yaml"))
	require.Equal(t, Pulls{{Source: "http://a:8081", Remote: "cam"}, {Source: "http://a:8081", Remote: "cam", Local: "copy"}}, c.Pulls)

}

func TestClosest(t *testing.T) {
	known := []string{"min_free", "hard_floor", "policy", "check_interval", "max_age"}
	require.Equal(t, "min_free", Closest("minfree", known))
	require.Equal(t, "policy", Closest("polcy", known))
	require.Equal(t, "max_age", Closest("max-age", known))
	require.Empty(t, Closest("webhooks", known), "too far from every key to be a typo")
	require.Equal(t, 3, levenshtein("kitten", "sitting"))
	require.Equal(t, 0, levenshtein("", ""))
}

// Variables and flags name the setting of a bad value; every one is reported.
func TestEnvAndFlagProblemsNameTheirKey(t *testing.T) {
	env := map[string]string{"VIGIL_HUB_QUEUE_PACKETS": "many", "VIGIL_RECORD_PREROLL": "maybe"}
	var fv FlagValues
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fv.Register(fs)
	require.NoError(t, fs.Parse([]string{"--disk-max-bytes", "lots", "--udp", ":70000"}))
	_, err := Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &fv)
	var problems Problems
	require.ErrorAs(t, err, &problems)
	require.Len(t, problems, 4, err.Error())
	for _, want := range []string{`VIGIL_HUB_QUEUE_PACKETS (hub.queue_packets): "many" is not a whole number`,
		`VIGIL_RECORD_PREROLL (record.preroll): "maybe" is not true or false`,
		`--disk-max-bytes (disk.max_bytes): "lots" is not a size`, `udp: ":70000": the port must be from 0 to 65535`} {
		require.Contains(t, err.Error(), want)
	}
}

// The defaults in docs/configuration.md's tables are the built-in ones.
func TestDocumentedDefaults(t *testing.T) {
	docs, err := os.ReadFile(repoFile(t, "docs/configuration.md"))
	require.NoError(t, err)
	def := Default()
	byKey := map[string]Setting{}
	for _, s := range Settings(&def) {
		byKey[s.Key()] = s
	}
	checked := 0
	for _, line := range strings.Split(string(docs), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		s, ok := byKey[strings.Trim(strings.TrimSpace(cells[1]), "`")]
		if !ok {
			continue
		}
		doc := strings.TrimSpace(cells[4])
		if doc == "empty" || strings.HasPrefix(doc, "empty ") {
			require.Contains(t, []string{"", "[]"}, s.String(), "%s is documented empty", s.Key())
			checked++
			continue
		}
		if !strings.HasPrefix(doc, "`") {
			continue // described in words ("host name")
		}
		other := Default()
		for _, o := range Settings(&other) {
			if o.Key() == s.Key() {
				require.NoError(t, o.Set(strings.Trim(doc, "`")), s.Key())
				require.Equal(t, s.String(), o.String(), "docs/configuration.md: default of %s", s.Key())
			}
		}
		checked++
	}
	require.Greater(t, checked, len(byKey)*3/4, "the tables were not read")
}
