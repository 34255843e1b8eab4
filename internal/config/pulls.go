package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pull is one pull declared in the configuration: remote streams played over WHEP and published
// locally from the start of the server until it stops (docs/pull.md).
type Pull struct {
	// Source is a vigil base URL (http://host:8081) or a full WHEP endpoint URL of any server.
	Source string `yaml:"source" json:"source"`
	// Remote is the remote stream name; required with a base URL.
	Remote string `yaml:"remote" json:"remote,omitempty"`
	// Local is the local stream name, or with Qty the prefix of the names. Empty: Remote.
	Local string `yaml:"local" json:"local,omitempty"`
	// Qty ≥ 1 pulls the stream Qty times as Local1 … LocalQty; 0 pulls it once as Local.
	Qty int `yaml:"qty" json:"qty,omitempty"`
}

// Pulls is the list of configured pulls. In the file it is a YAML list; in VIGIL_PULLS and
// --pulls it is the same list written as JSON (or YAML flow style), e.g.
// [{"source":"http://a:8081","remote":"cam1","local":"Stream-","qty":100}].
type Pulls []Pull

// Set parses a list written as JSON or YAML.
func (p *Pulls) Set(s string) error {
	list := Pulls{}
	if strings.TrimSpace(s) != "" {
		dec := yaml.NewDecoder(strings.NewReader(s))
		dec.KnownFields(true)
		if err := dec.Decode(&list); err != nil {
			return fmt.Errorf("%q is not a list of pulls such as "+
				`[{"source":"http://host:8081","remote":"cam1","local":"Stream-","qty":10}]: %v`, s, err) //nolint:errorlint // detail
		}
	}
	*p = list
	return nil
}

// String renders the list as compact JSON, the form Set reads in variables and flags.
func (p Pulls) String() string {
	if len(p) == 0 {
		return "[]"
	}
	b, err := json.Marshal([]Pull(p))
	if err != nil {
		return "[]"
	}
	return string(b)
}
