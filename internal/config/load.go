package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable vigil reads.
const EnvPrefix = "VIGIL_"

// Setting is one leaf of the configuration, addressed by its YAML path.
type Setting struct {
	Path  []string // YAML keys from the root, e.g. ["sessions", "connect_timeout"]
	value reflect.Value
	// owner and field locate the Go field, whose doc comment is the setting's help.
	owner reflect.Type
	field string
}

// Key is the dotted YAML path: "sessions.connect_timeout".
func (s Setting) Key() string { return strings.Join(s.Path, ".") }

// Env is the environment variable: "VIGIL_SESSIONS_CONNECT_TIMEOUT".
func (s Setting) Env() string { return EnvPrefix + strings.ToUpper(strings.Join(s.Path, "_")) }

// Flag is the command-line flag name: "sessions-connect-timeout".
func (s Setting) Flag() string {
	return strings.ReplaceAll(strings.Join(s.Path, "-"), "_", "-")
}

// Set parses text into the setting. Lists are comma-separated.
func (s Setting) Set(text string) error { return setText(s.value, text) }

// setText parses text into v, the way variables and flags are written (and YAML scalars).
func setText(v reflect.Value, text string) error {
	if p, ok := v.Addr().Interface().(interface{ Set(string) error }); ok {
		return p.Set(text)
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", text)
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not true or false", text)
		}
		v.SetBool(b)
	case reflect.Slice:
		list := []string{}
		for _, item := range strings.Split(text, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// String renders the current value the way Set reads it.
func (s Setting) String() string {
	v := s.value
	if st, ok := v.Interface().(fmt.Stringer); ok {
		return st.String()
	}
	if v.Kind() == reflect.Slice {
		return strings.Join(v.Interface().([]string), ",")
	}
	return fmt.Sprint(v.Interface())
}

// Type names what the setting takes, for help texts: duration, size, int, bool, list, json or
// string.
func (s Setting) Type() string {
	switch s.value.Interface().(type) {
	case Duration:
		return "duration"
	case ByteSize:
		return "size"
	case Pulls, Tokens:
		return "json"
	}
	switch s.value.Kind() {
	case reflect.Int, reflect.Int64:
		return "int"
	case reflect.Bool:
		return "bool"
	case reflect.Slice:
		return "list"
	}
	return "string"
}

// Settings lists every leaf of c, in declaration order, addressable for Set.
func Settings(c *Config) []Setting {
	var out []Setting
	walk(reflect.ValueOf(c).Elem(), nil, &out)
	return out
}

func walk(v reflect.Value, path []string, out *[]Setting) {
	t := v.Type()
	for i := range t.NumField() {
		p := append(append([]string(nil), path...), yamlName(t.Field(i)))
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			walk(f, p, out)
			continue
		}
		*out = append(*out, Setting{Path: p, value: f, owner: t, field: t.Field(i).Name})
	}
}

// ApplyFile overlays the YAML file at path on c. Unknown keys are errors.
func ApplyFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	return ApplyYAML(c, data, path)
}

// ApplyEnv overlays every VIGIL_* variable that lookup finds. An unknown VIGIL_ variable is not
// an error (other tools share the prefix), but a bad value is.
func ApplyEnv(c *Config, lookup func(string) (string, bool)) error {
	var errs []error
	for _, s := range Settings(c) {
		if text, ok := lookup(s.Env()); ok {
			if err := s.Set(text); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", s.Env(), s.Key(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// FlagValues records the setting flags given on a command line, in order, so they can be applied
// after the file and the environment.
type FlagValues struct {
	given []struct{ flag, text string }
}

// settingFlag is a setting's flag: it records the text, which is parsed (and its errors
// reported with the others) when the flags are applied.
type settingFlag struct {
	fv        *FlagValues
	name, typ string
}

func (f settingFlag) String() string { return "" }

func (f settingFlag) Set(text string) error {
	f.fv.given = append(f.fv.given, struct{ flag, text string }{f.name, text})
	return nil
}

// TypeName is what the flag takes, for help texts.
func (f settingFlag) TypeName() string { return f.typ }

// Register adds one flag per setting to fs, with the setting's help.
func (fv *FlagValues) Register(fs *flag.FlagSet) {
	def := Default()
	docs := fieldDocs()
	for _, s := range Settings(&def) {
		fs.Var(settingFlag{fv: fv, name: s.Flag(), typ: s.Type()}, s.Flag(), s.help(docs))
	}
}

// Apply overlays the recorded flags on c.
func (fv *FlagValues) Apply(c *Config) error {
	byFlag := map[string]Setting{}
	for _, s := range Settings(c) {
		byFlag[s.Flag()] = s
	}
	var errs []error
	for _, g := range fv.given {
		s := byFlag[g.flag]
		if err := s.Set(g.text); err != nil {
			errs = append(errs, fmt.Errorf("--%s (%s): %w", g.flag, s.Key(), err))
		}
	}
	return errors.Join(errs...)
}

// Problems is every problem found in a configuration; printed, one per line.
type Problems []error

func (p Problems) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, e := range p {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
	return b.String()
}

// Unwrap gives the problems to errors.Is and errors.As.
func (p Problems) Unwrap() []error { return p }

// Collect gathers the problems of errs (joined errors and Problems are opened) into one
// Problems; nil when there are none.
func Collect(errs ...error) error {
	var out Problems
	var add func(error)
	add = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // opening joins, not matching
			for _, e := range j.Unwrap() {
				add(e)
			}
			return
		}
		out = append(out, err)
	}
	for _, err := range errs {
		add(err)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Load builds the configuration: defaults, then the file (if path is not empty), then the
// environment, then the flags; and validates the result. Every problem is reported at once, as
// Problems; a value that does not parse keeps the one before it, so the rest is still checked.
func Load(path string, lookup func(string) (string, bool), flags *FlagValues) (Config, error) {
	c := Default()
	var errs []error
	if path != "" {
		errs = append(errs, ApplyFile(&c, path))
	}
	errs = append(errs, ApplyEnv(&c, lookup))
	if flags != nil {
		errs = append(errs, flags.Apply(&c))
	}
	errs = append(errs, c.Validate())
	return c, Collect(errs...)
}

// Marshal renders c as YAML.
func Marshal(c Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}
