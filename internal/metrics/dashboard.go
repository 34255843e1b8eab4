package metrics

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// DashboardMetricNames returns the metric names a Grafana dashboard queries: those in the PromQL
// of every panel target ("expr") and of every query variable ("definition"), sorted, without
// duplicates. Tests use it to keep the shipped dashboard (deploy/grafana/vigil.json) on series
// that exist.
func DashboardMetricNames(dashboard []byte) ([]string, error) {
	var doc any
	if err := json.Unmarshal(dashboard, &doc); err != nil {
		return nil, fmt.Errorf("parse dashboard: %w", err)
	}
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					for _, name := range PromQLMetricNames(s) {
						seen[name] = true
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

// PromQLMetricNames returns the metric names in a PromQL expression (a light scan, enough for
// dashboards: strings, label matchers, ranges and grouping clauses are skipped, and a name
// followed by "(" is a function).
func PromQLMetricNames(expr string) []string {
	re := promqlPatterns()
	expr = re.labelValues.ReplaceAllString(expr, "$1")
	for _, r := range []*regexp.Regexp{re.str, re.braces, re.brackets, re.grouping} {
		expr = r.ReplaceAllString(expr, " ")
	}
	var out []string
	for _, m := range re.ident.FindAllStringSubmatchIndex(expr, -1) {
		name := expr[m[2]:m[3]]
		if strings.HasPrefix(name, "$") || promqlKeyword(name) {
			continue
		}
		if rest := strings.TrimLeft(expr[m[3]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

type promqlRegexps struct {
	labelValues, str, braces, brackets, grouping, ident *regexp.Regexp
}

func promqlPatterns() promqlRegexps {
	return promqlRegexps{
		labelValues: regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)[^)]*\)`),
		str:         regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`),
		braces:      regexp.MustCompile(`\{[^}]*\}`),
		brackets:    regexp.MustCompile(`\[[^\]]*\]`),
		grouping:    regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`),
		ident:       regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:.$])(\$?[a-zA-Z_:][a-zA-Z0-9_:]*)`),
	}
}

func promqlKeyword(s string) bool {
	switch strings.ToLower(s) {
	case "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
		"unless", "inf", "nan", "atan2":
		return true
	}
	return false
}
