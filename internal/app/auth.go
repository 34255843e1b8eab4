package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/egress"
)

// newAuth builds the authenticator of the configuration, and says loudly when the server is
// open to anyone beyond this machine.
func newAuth(cfg config.Config, httpAddr net.Addr, log *slog.Logger) (*auth.Authenticator, string, error) {
	ac := auth.Config{Disabled: !cfg.Auth.Enabled, HS256Secret: cfg.Auth.JWTHS256Secret,
		PublicKeyFile: cfg.Auth.JWTPublicKeyFile, JWKSFile: cfg.Auth.JWTJWKSFile, Issuer: cfg.Auth.JWTIssuer,
		Audience: cfg.Auth.JWTAudience, MetricsSHA256: cfg.Auth.MetricsTokenSHA256}
	for _, n := range cfg.Auth.TrustedNetworks {
		p, err := config.ParseNetwork(n)
		if err != nil {
			return nil, "", fmt.Errorf("auth.trusted_networks: %w", err)
		}
		ac.Trusted = append(ac.Trusted, p)
	}
	for _, t := range cfg.Auth.Tokens {
		tok := auth.Token{Name: t.Name, SHA256: t.SHA256, Streams: t.Streams}
		for _, s := range t.Scopes {
			tok.Scopes = append(tok.Scopes, auth.Scope(s))
		}
		ac.Tokens = append(ac.Tokens, tok)
	}
	a, err := auth.New(ac)
	if err != nil {
		return nil, "", err
	}
	loopback := false
	if tcp, ok := httpAddr.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(tcp.IP); ok {
			loopback = ip.Unmap().IsLoopback()
		}
	}
	var state string
	switch {
	case ac.Disabled && !loopback:
		state = "off"
		log.Warn("AUTHENTICATION IS OFF and vigil listens beyond this machine: anyone who reaches " +
			httpAddr.String() + " can publish, watch, record, delete recordings and pull. Set auth.enabled: true")
	case ac.Disabled:
		state = "off"
		log.Info("authentication is off (listening on loopback only)")
	default:
		state = "on"
		log.Info("authentication is on", "tokens", len(ac.Tokens), "jwt", ac.HS256Secret != "" || ac.PublicKeyFile != "" || ac.JWKSFile != "",
			"trusted_networks", cfg.Auth.TrustedNetworks)
	}
	return a, state, nil
}

// viewerCounts gives the API's limits the viewer counts.
type viewerCounts struct{ m *egress.Manager }

func (v viewerCounts) Viewers() int                { return v.m.Count() }
func (v viewerCounts) ViewersOf(stream string) int { return v.m.CountFor(stream) }
