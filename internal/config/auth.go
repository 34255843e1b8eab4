package config

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AuthConfig is who may do what (docs/security.md).
type AuthConfig struct {
	// Enabled checks every request but the health checks; false lets anyone do anything (and
	// vigil says so loudly at start when it listens beyond loopback).
	Enabled bool `yaml:"enabled"`
	// TrustedNetworks are the networks that need no token: every scope over every stream. Default: loopback, so
	// scripts on the node itself work unchanged. Empty: every request needs a token.
	TrustedNetworks []string `yaml:"trusted_networks"`
	// Tokens are the bearer tokens, each stored as its SHA-256 (`vigil token` makes one).
	Tokens Tokens `yaml:"tokens"`
	// JWTHS256Secret verifies HS256 JWTs (prefer VIGIL_AUTH_JWT_HS256_SECRET).
	JWTHS256Secret string `yaml:"jwt_hs256_secret"`
	// JWTPublicKeyFile is a PEM public key that verifies RS256 and ES256 JWTs.
	JWTPublicKeyFile string `yaml:"jwt_public_key_file"`
	// JWTJWKSFile is a JSON Web Key Set file that verifies RS256 and ES256 JWTs by key id.
	JWTJWKSFile string `yaml:"jwt_jwks_file"`
	// JWTIssuer, when set, must be a JWT's iss.
	JWTIssuer string `yaml:"jwt_issuer"`
	// JWTAudience, when set, must be in a JWT's aud.
	JWTAudience string `yaml:"jwt_audience"`
	// MetricsTokenSHA256 is the SHA-256 of a token that may read /metrics only.
	MetricsTokenSHA256 string `yaml:"metrics_token_sha256"`
}

// Token is a bearer token of the configuration.
type Token struct {
	// Name identifies the token in logs and errors.
	Name string `yaml:"name" json:"name"`
	// SHA256 is the hex SHA-256 of the token, never the token itself.
	SHA256 string `yaml:"sha256" json:"sha256"`
	// Scopes: publish, read, record, admin (admin includes the others).
	Scopes []string `yaml:"scopes" json:"scopes"`
	// Streams are stream-name patterns ("cam-*"); empty: every stream.
	Streams []string `yaml:"streams" json:"streams,omitempty"`
}

// Tokens is the list of tokens; in VIGIL_AUTH_TOKENS and --auth-tokens it is written as JSON.
type Tokens []Token

// Set parses a list written as JSON or YAML.
func (t *Tokens) Set(s string) error {
	list := Tokens{}
	if strings.TrimSpace(s) != "" {
		dec := yaml.NewDecoder(strings.NewReader(s))
		dec.KnownFields(true)
		if err := dec.Decode(&list); err != nil {
			return fmt.Errorf("not a list of tokens such as "+
				`[{"name":"cams","sha256":"…","scopes":["publish"],"streams":["cam-*"]}]: %v`, err) //nolint:errorlint // detail
		}
	}
	*t = list
	return nil
}

// String renders the list as compact JSON (hashes only: nothing secret).
func (t Tokens) String() string {
	if len(t) == 0 {
		return "[]"
	}
	b, err := json.Marshal([]Token(t))
	if err != nil {
		return "[]"
	}
	return string(b)
}

func (a AuthConfig) problems() []error {
	var errs []error
	for _, n := range a.TrustedNetworks {
		if _, err := ParseNetwork(n); err != nil {
			errs = append(errs, fmt.Errorf("auth.trusted_networks: %w", err))
		}
	}
	for i, t := range a.Tokens {
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("auth.tokens[%d].name: required", i))
		}
		if _, err := hex.DecodeString(t.SHA256); err != nil || len(t.SHA256) != 64 {
			errs = append(errs, fmt.Errorf("auth.tokens[%d].sha256: must be the 64 hex digits of the token's SHA-256 (vigil token makes one)", i))
		}
		if len(t.Scopes) == 0 {
			errs = append(errs, fmt.Errorf("auth.tokens[%d].scopes: give at least one of publish, read, record, admin", i))
		}
		for _, p := range t.Streams {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("auth.tokens[%d].streams: %q is not a pattern such as cam-*: %w", i, p, err))
			}
		}
		for _, s := range t.Scopes {
			if !oneOf(s, "publish", "read", "record", "admin") {
				errs = append(errs, fmt.Errorf("auth.tokens[%d].scopes: %q is not publish, read, record or admin", i, s))
			}
		}
	}
	if _, err := hex.DecodeString(a.MetricsTokenSHA256); err != nil || len(a.MetricsTokenSHA256) != 64 && a.MetricsTokenSHA256 != "" {
		errs = append(errs, fmt.Errorf("auth.metrics_token_sha256: must be 64 hex digits"))
	}
	return errs
}

// ParseNetwork reads a network ("10.0.0.0/8") or a single address ("::1").
func ParseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (10.0.0.0/8): %w", s, err)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or network: %w", s, err)
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// redacted stands for a secret in printed configurations.
const redacted = "(redacted)"

// Redacted is c with its secrets replaced, for printing.
func (c Config) Redacted() Config {
	hide := func(s *string) {
		if *s != "" {
			*s = redacted
		}
	}
	hide(&c.S3.SecretKey)
	hide(&c.Webhooks.Secret)
	hide(&c.Auth.JWTHS256Secret)
	c.Cluster.Redis = redactURL(c.Cluster.Redis)
	return c
}
