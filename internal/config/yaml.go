package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ApplyYAML overlays YAML text on c; name (the file) starts every problem. The document is walked
// node by node rather than decoded in one go, so every unknown key and every bad value is reported
// with its key path and line, not only the first one.
func ApplyYAML(c *Config, data []byte, name string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	y := yamlOverlay{file: name}
	y.value(doc.Content[0], reflect.ValueOf(c).Elem(), "")
	return errors.Join(y.errs...)
}

type yamlOverlay struct {
	file string
	errs []error
}

func (y *yamlOverlay) fail(n *yaml.Node, key, format string, args ...any) {
	y.errs = append(y.errs, fmt.Errorf("%s:%d: %s: %s", y.file, n.Line, key, fmt.Sprintf(format, args...)))
}

// value overlays node n on v, the setting (or group of settings) at key.
func (y *yamlOverlay) value(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with nothing after it keeps the value it had
	}
	switch {
	case v.Kind() == reflect.Struct:
		y.mapping(n, v, key)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			y.fail(n, displayKey(key), "expected a list, got %s", describe(n))
			return
		}
		list := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			y.value(item, list.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		v.Set(list)
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			y.fail(n, key, "expected a list such as [a, b], got %s", describe(n))
			return
		}
		list := make([]string, 0, len(n.Content))
		for i, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				y.fail(item, fmt.Sprintf("%s[%d]", key, i), "expected a text value, got %s", describe(item))
				continue
			}
			list = append(list, item.Value)
		}
		v.Set(reflect.ValueOf(list))
	default:
		if n.Kind != yaml.ScalarNode {
			y.fail(n, key, "expected a single value, got %s", describe(n))
			return
		}
		if err := setText(v, n.Value); err != nil {
			y.fail(n, key, "%v", err)
		}
	}
}

// mapping overlays a mapping node on the fields of struct v, matched by their yaml tags.
func (y *yamlOverlay) mapping(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		y.fail(n, displayKey(key), "expected a mapping of keys, got %s", describe(n))
		return
	}
	fields := map[string]int{}
	var known []string
	for i := range v.NumField() {
		name := yamlName(v.Type().Field(i))
		fields[name] = i
		known = append(known, name)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" { // "<<: *defaults"
			if val.Kind == yaml.AliasNode && val.Alias != nil {
				val = val.Alias
			}
			merged := []*yaml.Node{val}
			if val.Kind == yaml.SequenceNode {
				merged = val.Content
			}
			for _, m := range merged {
				y.value(m, v, key)
			}
			continue
		}
		path := k.Value
		if key != "" {
			path = key + "." + k.Value
		}
		if line, dup := seen[k.Value]; dup {
			y.fail(k, path, "given twice (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			hint := "known keys here: " + strings.Join(known, ", ")
			if best := Closest(k.Value, known); best != "" {
				hint = "did you mean " + strings.TrimPrefix(key+"."+best, ".") + "?"
			} else if full := leafNamed(k.Value); key == "" && full != "" {
				hint = "did you mean " + full + "?" // a nested key written at the top
			}
			y.fail(k, path, "unknown key (%s)", hint)
			continue
		}
		y.value(val, v.Field(idx), path)
	}
}

func displayKey(key string) string {
	if key == "" {
		return "(top level)"
	}
	return key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// Closest is the known name nearest to name in edit distance, or "" when none is near enough to
// be a likely typo. It suggests keys, and flags on the command line.
func Closest(name string, known []string) string {
	key := name
	best, bestD := "", -1
	for _, k := range known {
		if d := levenshtein(key, k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD < 0 || bestD > max(2, len(key)/3) {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// leafNamed is the one setting whose last key is name ("rotation": "record.rotation"), or "".
func leafNamed(name string) string {
	def := Default()
	found := ""
	for _, s := range Settings(&def) {
		if s.Path[len(s.Path)-1] == name {
			if found != "" {
				return "" // several: no single guess
			}
			found = s.Key()
		}
	}
	return found
}
