package pull

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrNotAllowed means a pull's source is not among the allowed sources.
var ErrNotAllowed = errors.New("source is not in pull.allowed_sources")

// allowList is where pulls may connect: host names (exact, or "*.example.com" for any
// subdomain) and networks. An empty list allows every source.
type allowList struct {
	names []string
	nets  []netip.Prefix
}

// parseAllowList reads host names, IP addresses and CIDR networks.
func parseAllowList(entries []string) (allowList, error) {
	var a allowList
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
			continue
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return allowList{}, fmt.Errorf("allowed source %q is not a network (10.0.0.0/8): %w", e, err)
			}
			a.nets = append(a.nets, p.Masked())
		default:
			if ip, err := netip.ParseAddr(e); err == nil {
				a.nets = append(a.nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(e, ":@ ") {
				return allowList{}, fmt.Errorf("allowed source %q is not a host name, address or network", e)
			}
			a.names = append(a.names, e)
		}
	}
	return a, nil
}

func (a allowList) empty() bool { return len(a.names) == 0 && len(a.nets) == 0 }

func (a allowList) nameAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, n := range a.names {
		if n == host || strings.HasPrefix(n, "*.") && strings.HasSuffix(host, n[1:]) {
			return true
		}
	}
	return false
}

func (a allowList) ipAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// check refuses early a source that can never be allowed: a host name not listed when no
// network is, or an address outside every listed network. Other host names are checked when
// they are resolved (dial).
func (a allowList) check(endpoint string) error {
	if a.empty() {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSpec, err) //nolint:errorlint // detail
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !a.ipAllowed(ip) {
			return fmt.Errorf("%w: %w: %s", ErrBadSpec, ErrNotAllowed, host)
		}
		return nil
	}
	if !a.nameAllowed(host) && len(a.nets) == 0 {
		return fmt.Errorf("%w: %w: %s", ErrBadSpec, ErrNotAllowed, host)
	}
	return nil
}

// dial connects to a listed host name as it is, and to any other host only at an address in a
// listed network: the address checked is the address dialled, so a name that resolves elsewhere
// later (DNS rebinding) does not get through.
func (a allowList) dial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if a.empty() || a.nameAllowed(host) {
			return d.DialContext(ctx, network, addr)
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if a.ipAllowed(ip) {
				return d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
			}
		}
		return nil, fmt.Errorf("%w: %s", ErrNotAllowed, host)
	}
}
