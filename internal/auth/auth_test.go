package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
)

func request(remote, token string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/streams", nil)
	r.RemoteAddr = remote
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	require.NoError(t, err)
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return raw
}

func claims(sub, scope string, streams []string, exp time.Time) map[string]any {
	c := map[string]any{"sub": sub, "scope": scope, "exp": exp.Unix()}
	if streams != nil {
		c["streams"] = streams
	}
	return c
}

func TestTokensAndTrustedNetworks(t *testing.T) {
	a, err := New(Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Tokens:        []Token{{Name: "cams", SHA256: HashToken("secret-1"), Scopes: []Scope{Publish}, Streams: []string{"cam-*"}}},
		MetricsSHA256: HashToken("prom")})
	require.NoError(t, err)

	g, err := a.Authenticate(request("127.0.0.1:5000", ""))
	require.NoError(t, err)
	require.True(t, g.Allows(Admin, ""), "loopback without a token: everything")
	_, err = a.Authenticate(request("10.1.2.3:5000", ""))
	require.ErrorIs(t, err, ErrNoCredentials)
	_, err = a.Authenticate(request("10.1.2.3:5000", "wrong"))
	require.ErrorIs(t, err, ErrBadCredentials)
	_, err = a.Authenticate(request("127.0.0.1:5000", "wrong"))
	require.ErrorIs(t, err, ErrBadCredentials, "a token is judged by the token, even from loopback")

	g, err = a.Authenticate(request("10.1.2.3:5000", "secret-1"))
	require.NoError(t, err)
	require.Equal(t, "cams", g.Who)
	require.True(t, g.Allows(Publish, "cam-7"))
	require.False(t, g.Allows(Publish, "lobby"))
	require.False(t, g.Allows(Read, "cam-7"))
	require.False(t, g.Allows(Publish, ""), "not every stream")
	require.True(t, g.Has(Publish))

	r := httptest.NewRequest("GET", "/whep/cam-1?token=secret-1", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	g, err = a.Authenticate(r)
	require.NoError(t, err, "browser pages pass ?token=")
	require.Equal(t, "cams", g.Who)

	require.True(t, a.MetricsAllowed(request("10.1.2.3:5000", "prom")))
	require.False(t, a.MetricsAllowed(request("10.1.2.3:5000", "secret-1")))
	require.True(t, a.MetricsAllowed(request("127.0.0.1:1", "")))

	_, err = New(Config{Tokens: []Token{{Name: "x", SHA256: "abc"}}})
	require.Error(t, err)
	_, err = New(Config{Tokens: []Token{{Name: "x", SHA256: HashToken("y"), Scopes: []Scope{"root"}}}})
	require.Error(t, err)
}

func TestJWT(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	dir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	pemFile := filepath.Join(dir, "rsa.pem")
	require.NoError(t, os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ecKey.PublicKey, KeyID: "ec1", Algorithm: "ES256", Use: "sig"}}})
	require.NoError(t, err)
	jwksFile := filepath.Join(dir, "keys.json")
	require.NoError(t, os.WriteFile(jwksFile, jwks, 0o600))

	hour := time.Now().Add(time.Hour)
	hs, err := New(Config{HS256Secret: "shared-secret-of-enough-length-32b", Issuer: "idp", Audience: "vigil"})
	require.NoError(t, err)
	good := map[string]any{"sub": "alice", "scope": "read record", "streams": []string{"cam-*"}, "exp": hour.Unix(),
		"iss": "idp", "aud": "vigil"}
	g, err := hs.Authenticate(request("10.0.0.1:1", sign(t, jose.HS256, []byte("shared-secret-of-enough-length-32b"), "", good)))
	require.NoError(t, err)
	require.Equal(t, "jwt:alice", g.Who)
	require.True(t, g.Allows(Record, "cam-2"))
	require.False(t, g.Allows(Publish, "cam-2"))
	require.False(t, g.Allows(Read, "lobby"))

	for name, c := range map[string]map[string]any{
		"expired":      {"sub": "a", "scope": "admin", "exp": time.Now().Add(-time.Hour).Unix(), "iss": "idp", "aud": "vigil"},
		"no expiry":    {"sub": "a", "scope": "admin", "iss": "idp", "aud": "vigil"},
		"wrong issuer": {"sub": "a", "scope": "admin", "exp": hour.Unix(), "iss": "other", "aud": "vigil"},
		"wrong aud":    {"sub": "a", "scope": "admin", "exp": hour.Unix(), "iss": "idp", "aud": "else"},
	} {
		_, err := hs.Authenticate(request("10.0.0.1:1", sign(t, jose.HS256, []byte("shared-secret-of-enough-length-32b"), "", c)))
		require.ErrorIs(t, err, ErrBadCredentials, name)
	}
	_, err = hs.Authenticate(request("10.0.0.1:1", sign(t, jose.HS256, []byte("another-secret-of-enough-length-32"), "", good)))
	require.ErrorIs(t, err, ErrBadCredentials, "bad signature")

	rs, err := New(Config{PublicKeyFile: pemFile})
	require.NoError(t, err)
	g, err = rs.Authenticate(request("10.0.0.1:1", sign(t, jose.RS256, rsaKey, "", claims("bob", "admin", nil, hour))))
	require.NoError(t, err)
	require.True(t, g.Allows(Admin, ""))
	// An HS256 token made with the public key as its secret (the classic confusion) fails.
	_, err = rs.Authenticate(request("10.0.0.1:1", sign(t, jose.HS256, der, "", claims("eve", "admin", nil, hour))))
	require.ErrorIs(t, err, ErrBadCredentials)

	es, err := New(Config{JWKSFile: jwksFile})
	require.NoError(t, err)
	g, err = es.Authenticate(request("10.0.0.1:1", sign(t, jose.ES256, ecKey, "ec1", claims("cam", "publish", []string{"cam-1"}, hour))))
	require.NoError(t, err)
	require.True(t, g.Allows(Publish, "cam-1"))
	require.False(t, g.Allows(Publish, "cam-2"))
}
