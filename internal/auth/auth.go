// Package auth decides who may do what. A request is authenticated by the network it comes from
// (trusted networks, loopback by default, get every scope so scripts on the node itself work
// unchanged), by a bearer token listed in the configuration (stored as its SHA-256, never in
// clear), or by a JWT (HS256 with a shared secret, RS256 or ES256 with a public key or a JWKS
// file). Each grants scopes (publish, read, record, admin) over stream-name patterns ("cam-*").
//
// auth knows nothing of routes: the API asks Allows(scope, stream) of the Grant it gets.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Scope is a set of actions a grant allows.
type Scope string

// The scopes. Admin includes the others.
const (
	// Publish: WHIP (publish, end one's own session).
	Publish Scope = "publish"
	// Read: WHEP (watch), list and inspect streams.
	Read Scope = "read"
	// Record: start and stop recordings, list and download them.
	Record Scope = "record"
	// Admin: pulls, kicking publishers, deleting recordings, storage, metrics.
	Admin Scope = "admin"
)

// Scopes are all scopes, in order.
var Scopes = []Scope{Publish, Read, Record, Admin}

// Errors of Authenticate.
var (
	// ErrNoCredentials: the request carries no token and does not come from a trusted network.
	ErrNoCredentials = errors.New("a bearer token is required")
	// ErrBadCredentials: the token is unknown, malformed, expired or badly signed.
	ErrBadCredentials = errors.New("invalid token")
)

// Grant is what an authenticated request may do.
type Grant struct {
	// Who names the credentials (a token's name, a JWT's subject, "trusted network").
	Who    string
	scopes map[Scope]bool
	// streams are stream-name patterns (path.Match); none: every stream.
	streams []string
}

// Full is a grant of every scope over every stream.
func Full(who string) Grant {
	return Grant{Who: who, scopes: map[Scope]bool{Admin: true}}
}

// NewGrant grants scopes over the streams matching patterns (none: every stream).
func NewGrant(who string, scopes []Scope, patterns []string) Grant {
	g := Grant{Who: who, scopes: map[Scope]bool{}, streams: patterns}
	for _, s := range scopes {
		g.scopes[s] = true
	}
	return g
}

// Has reports whether the grant includes scope for some stream.
func (g Grant) Has(scope Scope) bool { return g.scopes[Admin] || g.scopes[scope] }

// AllStreams reports whether the grant covers every stream name.
func (g Grant) AllStreams() bool { return len(g.streams) == 0 }

// Covers reports whether stream matches the grant's patterns.
func (g Grant) Covers(stream string) bool {
	if len(g.streams) == 0 {
		return true
	}
	for _, p := range g.streams {
		if ok, _ := path.Match(p, stream); ok {
			return true
		}
	}
	return false
}

// Allows reports whether the grant includes scope over stream ("" for requests about no single
// stream, which need a grant over every stream).
func (g Grant) Allows(scope Scope, stream string) bool {
	if !g.Has(scope) {
		return false
	}
	if stream == "" {
		return g.AllStreams()
	}
	return g.Covers(stream)
}

// Token is a bearer token of the configuration.
type Token struct {
	// Name identifies the token in logs.
	Name string
	// SHA256 is the hex SHA-256 of the token.
	SHA256  string
	Scopes  []Scope
	Streams []string
}

// Config of the authenticator.
type Config struct {
	// Disabled lets every request do everything.
	Disabled bool
	// Trusted networks need no token.
	Trusted []netip.Prefix
	Tokens  []Token
	// HS256Secret verifies HS256 JWTs; PublicKeyFile (PEM) and JWKSFile verify RS256 and ES256.
	HS256Secret   string
	PublicKeyFile string
	JWKSFile      string
	// Issuer and Audience, when set, must match the JWT's iss and be in its aud.
	Issuer, Audience string
	// MetricsSHA256 is the hex SHA-256 of a token that may read /metrics only.
	MetricsSHA256 string
}

// Authenticator checks requests.
type Authenticator struct {
	cfg    Config
	tokens map[[32]byte]Token
	metric []byte
	pub    any // crypto.PublicKey or *jose.JSONWebKeySet
	now    func() time.Time
}

// New reads the keys and tokens of cfg.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{cfg: cfg, tokens: map[[32]byte]Token{}, now: time.Now}
	for i, t := range cfg.Tokens {
		sum, err := parseSum(t.SHA256)
		if err != nil {
			return nil, fmt.Errorf("auth.tokens[%d] (%s): sha256: %w", i, t.Name, err)
		}
		for _, s := range t.Scopes {
			if !validScope(s) {
				return nil, fmt.Errorf("auth.tokens[%d] (%s): scope %q is not publish, read, record or admin", i, t.Name, s)
			}
		}
		for _, p := range t.Streams {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("auth.tokens[%d] (%s): stream pattern %q: %w", i, t.Name, p, err)
			}
		}
		a.tokens[sum] = t
	}
	if cfg.MetricsSHA256 != "" {
		sum, err := parseSum(cfg.MetricsSHA256)
		if err != nil {
			return nil, fmt.Errorf("auth.metrics_token_sha256: %w", err)
		}
		a.metric = sum[:]
	}
	switch {
	case cfg.PublicKeyFile != "" && cfg.JWKSFile != "":
		return nil, errors.New("auth: give jwt_public_key_file or jwt_jwks_file, not both")
	case cfg.PublicKeyFile != "":
		key, err := readPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt_public_key_file: %w", err)
		}
		a.pub = key
	case cfg.JWKSFile != "":
		b, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt_jwks_file: %w", err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			return nil, fmt.Errorf("auth.jwt_jwks_file %s: %w", cfg.JWKSFile, err)
		}
		a.pub = &set
	}
	return a, nil
}

func validScope(s Scope) bool {
	for _, v := range Scopes {
		if s == v {
			return true
		}
	}
	return false
}

func parseSum(s string) ([32]byte, error) {
	var sum [32]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(sum) {
		return sum, errors.New("not a hex SHA-256 (64 hex digits; `vigil token` makes one)")
	}
	copy(sum[:], b)
	return sum, nil
}

func readPublicKey(file string) (any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", file)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return key, nil
}

// HashToken is the hex SHA-256 the configuration stores for token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Disabled reports whether authentication is off.
func (a *Authenticator) Disabled() bool { return a.cfg.Disabled }

// Trusted reports whether r comes from a trusted network.
func (a *Authenticator) Trusted(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.cfg.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// BearerToken is the request's token: the Authorization header (RFC 6750), or the token query
// parameter for browser pages that cannot set headers (a player in an <iframe>, a WHEP URL).
func BearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	return r.URL.Query().Get("token")
}

// Authenticate returns what r may do. A request with a token is judged by the token even from
// a trusted network, so a test of a token from the node itself means what it says.
func (a *Authenticator) Authenticate(r *http.Request) (Grant, error) {
	if a.cfg.Disabled {
		return Full("authentication off"), nil
	}
	token := BearerToken(r)
	if token == "" {
		if a.Trusted(r) {
			return Full("trusted network"), nil
		}
		return Grant{}, ErrNoCredentials
	}
	sum := sha256.Sum256([]byte(token))
	if t, ok := a.tokens[sum]; ok {
		return NewGrant(t.Name, t.Scopes, t.Streams), nil
	}
	if strings.Count(token, ".") == 2 {
		return a.verifyJWT(token)
	}
	return Grant{}, ErrBadCredentials
}

// MetricsAllowed reports whether r may read /metrics: admin over every stream, or the metrics
// token.
func (a *Authenticator) MetricsAllowed(r *http.Request) bool {
	if a.metric != nil {
		if t := BearerToken(r); t != "" {
			sum := sha256.Sum256([]byte(t))
			if subtle.ConstantTimeCompare(sum[:], a.metric) == 1 {
				return true
			}
		}
	}
	g, err := a.Authenticate(r)
	return err == nil && g.Allows(Admin, "")
}

// jwtClaims are the claims vigil reads beside the registered ones: scopes as a space-separated
// "scope" (RFC 8693) or a "scopes" array, and stream-name patterns.
type jwtClaims struct {
	Scope   string   `json:"scope"`
	Scopes  []string `json:"scopes"`
	Streams []string `json:"streams"`
}

func (a *Authenticator) verifyJWT(raw string) (Grant, error) {
	var algs []jose.SignatureAlgorithm
	if a.cfg.HS256Secret != "" {
		algs = append(algs, jose.HS256)
	}
	if a.pub != nil {
		algs = append(algs, jose.RS256, jose.ES256)
	}
	if len(algs) == 0 {
		return Grant{}, ErrBadCredentials
	}
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil || len(tok.Headers) != 1 {
		return Grant{}, fmt.Errorf("%w: %v", ErrBadCredentials, err) //nolint:errorlint // detail
	}
	var key any = a.pub
	if tok.Headers[0].Algorithm == string(jose.HS256) {
		key = []byte(a.cfg.HS256Secret)
	}
	var std jwt.Claims
	var own jwtClaims
	if err := tok.Claims(key, &std, &own); err != nil {
		return Grant{}, fmt.Errorf("%w: %v", ErrBadCredentials, err) //nolint:errorlint // detail
	}
	if std.Expiry == nil {
		return Grant{}, fmt.Errorf("%w: the JWT has no expiry (exp)", ErrBadCredentials)
	}
	want := jwt.Expected{Time: a.now(), Issuer: a.cfg.Issuer}
	if a.cfg.Audience != "" {
		want.AnyAudience = jwt.Audience{a.cfg.Audience}
	}
	if err := std.ValidateWithLeeway(want, 30*time.Second); err != nil {
		return Grant{}, fmt.Errorf("%w: %v", ErrBadCredentials, err) //nolint:errorlint // detail
	}
	var scopes []Scope
	for _, s := range append(strings.Fields(own.Scope), own.Scopes...) {
		if validScope(Scope(s)) {
			scopes = append(scopes, Scope(s))
		}
	}
	who := "jwt"
	if std.Subject != "" {
		who = "jwt:" + std.Subject
	}
	return NewGrant(who, scopes, own.Streams), nil
}
