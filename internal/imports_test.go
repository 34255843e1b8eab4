// Package internal_test checks the import rules of docs/architecture.md against the packages as
// they are: the "must never import" column of the package table, row by row.
package internal_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/vigilrec/vigil/"

// rule is one row of the package table. Package paths are relative to the module
// ("internal/hub"); a rule covers pkgs and everything they import, directly or not.
type rule struct {
	// row is the package column of the table as the doc writes it.
	row  string
	pkgs []string
	// never are the module packages pkgs must not depend on.
	never []string
	// onlyInternal, when not nil, are the only module packages pkgs may depend on (empty: none).
	onlyInternal []string
	// onlyExternal, when not nil, are the only non-standard module path prefixes pkgs may depend on.
	onlyExternal []string
	// notImportedBy are the packages that must not depend on pkgs.
	notImportedBy []string
}

// pipeline is what the table calls the media pipeline.
var pipeline = []string{"internal/hub", "internal/rtc", "internal/session", "internal/ingest", "internal/egress",
	"internal/pull", "internal/recorder", "internal/segment", "internal/segment/fmp4", "internal/segment/webm",
	"internal/storage"}

func internal(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "internal/" + n
	}
	return out
}

// rules is the table of docs/architecture.md, in its order.
var rules = []rule{
	{row: "cmd/vigil", pkgs: []string{"cmd/vigil"}},
	{row: "internal/cli", pkgs: internal("cli")},
	{row: "internal/buildinfo", pkgs: internal("buildinfo"), onlyInternal: []string{}, onlyExternal: []string{}},
	{row: "internal/config", pkgs: internal("config"), onlyInternal: []string{}, onlyExternal: []string{"go.yaml.in/yaml/"}},
	{row: "internal/app", pkgs: internal("app")},
	{row: "internal/media", pkgs: internal("media"), onlyInternal: []string{}},
	{row: "internal/hub", pkgs: internal("hub"), onlyInternal: internal("media")},
	{row: "internal/rtc", pkgs: internal("rtc"), never: internal("hub", "api")},
	{row: "internal/session", pkgs: internal("session"), never: internal("hub", "api", "ingest", "egress")},
	{row: "internal/whip", pkgs: internal("whip"), never: internal("hub", "api")},
	{row: "internal/ingest", pkgs: internal("ingest"), never: internal("egress", "api")},
	{row: "internal/egress", pkgs: internal("egress"), never: internal("ingest", "api")},
	{row: "internal/pull", pkgs: internal("pull"), never: internal("recorder", "storage", "api", "metrics")},
	{row: "internal/api", pkgs: internal("api")},
	{row: "internal/console", pkgs: internal("console"), onlyInternal: []string{}},
	{row: "internal/recorder", pkgs: internal("recorder"), never: internal("storage", "catalog", "api")},
	{row: "internal/segment", pkgs: internal("segment", "segment/fmp4", "segment/webm"),
		onlyInternal: internal("media", "segment")},
	{row: "internal/storage", pkgs: internal("storage"), never: internal("recorder", "api")},
	{row: "internal/playback", pkgs: internal("playback"), onlyInternal: internal("media", "segment", "segment/fmp4", "segment/webm")},
	{row: "internal/catalog", pkgs: internal("catalog"), never: pipeline},
	{row: "internal/diskguard", pkgs: internal("diskguard"), never: internal("recorder", "catalog", "storage")},
	{row: "internal/upload", pkgs: internal("upload"), never: pipeline},
	{row: "internal/cluster", pkgs: internal("cluster"), onlyInternal: []string{}},
	{row: "internal/webhook", pkgs: internal("webhook")},
	{row: "internal/hook", pkgs: internal("hook")},
	{row: "internal/metrics", pkgs: internal("metrics"), notImportedBy: pipeline},
	{row: "internal/publish", pkgs: internal("publish"), never: internal("hub", "api", "ingest")},
	{row: "internal/bench", pkgs: internal("bench"),
		never: internal("hub", "ingest", "egress", "recorder", "api", "app", "config", "pull", "catalog", "diskguard")},
	{row: "internal/probe", pkgs: internal("probe"), onlyInternal: []string{}},
	{row: "internal/testutil", pkgs: internal("testutil"), notImportedBy: []string{"..."}},
}

// pkg is what go list says of one package.
type pkg struct {
	ImportPath string
	Standard   bool
	Deps       []string
}

// graph maps each package of the module (relative path) to its dependencies (full import paths),
// and tells the standard library's packages.
type graph struct {
	deps     map[string][]string
	standard map[string]bool
}

func loadGraph(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", module+"...")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	g := graph{deps: map[string][]string{}, standard: map[string]bool{}}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		g.standard[p.ImportPath] = p.Standard
		if rel, ok := strings.CutPrefix(p.ImportPath, module); ok {
			g.deps[rel] = p.Deps
		}
	}
	return g
}

// violations lists every import that breaks a rule.
func violations(g graph, rules []rule) []string {
	var out []string
	for _, r := range rules {
		for _, p := range r.pkgs {
			deps, ok := g.deps[p]
			if !ok {
				out = append(out, fmt.Sprintf("%s: no such package", p))
				continue
			}
			for _, d := range deps {
				rel, inModule := strings.CutPrefix(d, module)
				switch {
				case inModule && slices.Contains(r.never, rel):
					out = append(out, fmt.Sprintf("%s imports %s", p, rel))
				case inModule && r.onlyInternal != nil && !slices.Contains(r.onlyInternal, rel):
					out = append(out, fmt.Sprintf("%s imports %s; it may import only %v", p, rel, r.onlyInternal))
				case !inModule && !g.standard[d] && r.onlyExternal != nil &&
					!slices.ContainsFunc(r.onlyExternal, func(prefix string) bool { return strings.HasPrefix(d, prefix) }):
					out = append(out, fmt.Sprintf("%s imports %s; outside the standard library it may import only %v",
						p, d, r.onlyExternal))
				}
			}
			for importer, deps := range g.deps {
				if slices.Contains(r.pkgs, importer) {
					continue
				}
				if !slices.Contains(r.notImportedBy, "...") && !slices.Contains(r.notImportedBy, importer) {
					continue
				}
				if slices.Contains(deps, module+p) {
					out = append(out, fmt.Sprintf("%s imports %s", importer, p))
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestImportRules(t *testing.T) {
	require.Empty(t, violations(loadGraph(t), rules), "docs/architecture.md: must never import")
}

// The rules above are the doc's table, row for row, so a row added or moved there shows here.
func TestImportRulesFollowTheDoc(t *testing.T) {
	f, err := os.Open("../docs/architecture.md")
	require.NoError(t, err)
	defer f.Close()
	row := regexp.MustCompile("^\\| `([^`]+)`")
	var doc []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			doc = append(doc, m[1])
		}
	}
	require.NoError(t, sc.Err())
	var ours []string
	for _, r := range rules {
		ours = append(ours, r.row)
	}
	require.Equal(t, doc, ours)
}

// The checker finds each kind of broken rule in a made-up module.
func TestViolationsFindsBrokenRules(t *testing.T) {
	g := graph{
		deps: map[string][]string{
			"internal/a": {module + "internal/b", module + "internal/c", "fmt", "example.com/lib"},
			"internal/b": {module + "internal/c", "fmt"},
			"internal/c": {"fmt"},
		},
		standard: map[string]bool{"fmt": true},
	}
	require.Empty(t, violations(g, []rule{
		{pkgs: []string{"internal/b"}, never: []string{"internal/a"}, onlyInternal: []string{"internal/c"},
			onlyExternal: []string{}},
		{pkgs: []string{"internal/a"}, onlyExternal: []string{"example.com/"}},
	}))
	require.Equal(t, []string{"internal/a imports internal/c"},
		violations(g, []rule{{pkgs: []string{"internal/a"}, never: []string{"internal/c"}}}),
		"a dependency through another package counts")
	require.Len(t, violations(g, []rule{{pkgs: []string{"internal/a"}, onlyInternal: []string{"internal/b"}}}), 1)
	require.Len(t, violations(g, []rule{{pkgs: []string{"internal/a"}, onlyExternal: []string{}}}), 1)
	require.Equal(t, []string{"internal/a imports internal/c", "internal/b imports internal/c"},
		violations(g, []rule{{pkgs: []string{"internal/c"}, notImportedBy: []string{"..."}}}))
	require.Equal(t, []string{"internal/b imports internal/c"},
		violations(g, []rule{{pkgs: []string{"internal/c"}, notImportedBy: []string{"internal/b"}}}))
	require.Equal(t, []string{"internal/x: no such package"}, violations(g, []rule{{pkgs: []string{"internal/x"}}}))
}
