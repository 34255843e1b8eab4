package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
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
func (s Setting) Set(text string) error {
	v := s.value
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
		return fmt.Errorf("setting %s has unsupported type %s", s.Key(), v.Type())
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

// Settings lists every leaf of c, in declaration order, addressable for Set.
func Settings(c *Config) []Setting {
	var out []Setting
	walk(reflect.ValueOf(c).Elem(), nil, &out)
	return out
}

func walk(v reflect.Value, path []string, out *[]Setting) {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		p := append(append([]string(nil), path...), name)
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			walk(f, p, out)
			continue
		}
		*out = append(*out, Setting{Path: p, value: f})
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

// ApplyYAML overlays YAML text on c; name is used in errors.
func ApplyYAML(c *Config, data []byte, name string) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
}

// ApplyEnv overlays every VIGIL_* variable that lookup finds. An unknown VIGIL_ variable is not
// an error (other tools share the prefix), but a bad value is.
func ApplyEnv(c *Config, lookup func(string) (string, bool)) error {
	var errs []error
	for _, s := range Settings(c) {
		if text, ok := lookup(s.Env()); ok {
			if err := s.Set(text); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Env(), err))
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

// Register adds one flag per setting to fs.
func (fv *FlagValues) Register(fs *flag.FlagSet) {
	def := Default()
	for _, s := range Settings(&def) {
		name := s.Flag()
		fs.Func(name, fmt.Sprintf("%s (default %q; env %s)", s.Key(), s.String(), s.Env()), func(text string) error {
			fv.given = append(fv.given, struct{ flag, text string }{name, text})
			return nil
		})
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
		if err := byFlag[g.flag].Set(g.text); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", g.flag, err))
		}
	}
	return errors.Join(errs...)
}

// Load builds the configuration: defaults, then the file (if path is not empty), then the
// environment, then the flags; and validates the result.
func Load(path string, lookup func(string) (string, bool), flags *FlagValues) (Config, error) {
	c := Default()
	if path != "" {
		if err := ApplyFile(&c, path); err != nil {
			return c, err
		}
	}
	if err := ApplyEnv(&c, lookup); err != nil {
		return c, err
	}
	if flags != nil {
		if err := flags.Apply(&c); err != nil {
			return c, err
		}
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
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
