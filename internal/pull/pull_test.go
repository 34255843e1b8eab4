package pull

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
)

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, source, remote, want string
		err                        error
	}{
		{"vigil base URL", "http://10.0.0.5:8081", "cam1", "http://10.0.0.5:8081/whep/cam1", nil},
		{"base URL with slash", "https://a.example/", "cam1", "https://a.example/whep/cam1", nil},
		{"vigil endpoint", "http://a:8081/whep/cam1", "", "http://a:8081/whep/cam1", nil},
		{"MediaMTX endpoint", "http://a:8889/lobby/whep", "ignored", "http://a:8889/lobby/whep", nil},
		{"endpoint keeps its query", "http://a:8889/lobby/whep?token=x", "", "http://a:8889/lobby/whep?token=x", nil},
		{"base URL needs a remote", "http://a:8081", "", "", ErrBadSpec},
		{"bad remote name", "http://a:8081", "../x", "", hub.ErrInvalidName},
		{"websocket URI", "wss://a:8443", "cam1", "", ErrBadSpec},
		{"no host", "http:///whep/x", "", "", ErrBadSpec},
		{"not a URL", "::", "cam1", "", ErrBadSpec},
		{"empty", "", "cam1", "", ErrBadSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Endpoint(tc.source, tc.remote)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestExpand(t *testing.T) {
	names := func(specs []Spec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, s.Local)
		}
		return out
	}
	for _, tc := range []struct {
		name, remote, local string
		qty                 int
		want                []string
		err                 error
	}{
		{"one, named", "cam1", "lobby", 0, []string{"lobby"}, nil},
		{"one, named after the remote", "cam1", "", 0, []string{"cam1"}, nil},
		{"batch", "cam1", "Stream-", 3, []string{"Stream-1", "Stream-2", "Stream-3"}, nil},
		{"batch of one", "cam1", "Stream-", 1, []string{"Stream-1"}, nil},
		{"batch named after the remote", "cam1", "", 2, []string{"cam11", "cam12"}, nil},
		{"negative qty", "cam1", "S", -1, nil, ErrBadSpec},
		{"too many", "cam1", "S", MaxQty + 1, nil, ErrBadSpec},
		{"bad local name", "cam1", "a/b", 0, nil, hub.ErrInvalidName},
		{"name too long with its index", "cam1", longName(hub.MaxNameLength), 1, nil, hub.ErrInvalidName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := Expand("http://a:8081", tc.remote, tc.local, tc.qty)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, names(specs))
			for _, s := range specs {
				require.Equal(t, "http://a:8081/whep/cam1", s.Endpoint)
				require.Equal(t, "cam1", s.Remote)
			}
		})
	}
	specs, err := Expand("http://a:8081", "cam", "Stream-", 100)
	require.NoError(t, err)
	require.Len(t, specs, 100)
	require.Equal(t, "Stream-100", specs[99].Local)
	_, err = Expand("http://a:8889/x/whep", "", "", 0)
	require.ErrorIs(t, err, ErrBadSpec, "an endpoint without local or remote name")
}

func longName(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

// Every wait lies between half of its step and the whole step; steps double from the minimum
// up to the cap and stay there.
func TestBackoff(t *testing.T) {
	minWait, maxWait := 500*time.Millisecond, 10*time.Second
	steps := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		10 * time.Second, 10 * time.Second}
	for n := 1; n <= 200; n++ {
		step := maxWait
		if n <= len(steps) {
			step = steps[n-1]
		}
		seen := map[time.Duration]bool{}
		for range 50 {
			d := backoff(n, minWait, maxWait)
			require.GreaterOrEqual(t, d, step/2, "attempt %d", n)
			require.LessOrEqual(t, d, step, "attempt %d", n)
			seen[d] = true
		}
		require.Greater(t, len(seen), 1, "attempt %d: jitter", n)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	require.Equal(t, 500*time.Millisecond, c.MinBackoff)
	require.Equal(t, 10*time.Second, c.MaxBackoff)
	require.Equal(t, 30*time.Second, c.Hold)
	c = Config{MinBackoff: time.Minute}.withDefaults()
	require.Equal(t, time.Minute, c.MaxBackoff, "the cap is never below the first step")
	require.False(t, errors.Is(ErrExists, ErrNotFound))
}

func TestAllowList(t *testing.T) {
	a, err := parseAllowList([]string{"10.0.0.0/8", "192.168.1.7", "Origin.Example", "*.cams.example", " "})
	require.NoError(t, err)
	require.True(t, a.nameAllowed("origin.example"))
	require.True(t, a.nameAllowed("a.cams.example"))
	require.False(t, a.nameAllowed("cams.example"))
	require.False(t, a.nameAllowed("evil-origin.example"))
	require.True(t, a.ipAllowed(netip.MustParseAddr("10.1.2.3")))
	require.True(t, a.ipAllowed(netip.MustParseAddr("::ffff:10.1.2.3")))
	require.True(t, a.ipAllowed(netip.MustParseAddr("192.168.1.7")))
	require.False(t, a.ipAllowed(netip.MustParseAddr("192.168.1.8")))
	require.NoError(t, a.check("http://origin.example:8081/whep/x"))
	require.NoError(t, a.check("http://10.9.9.9:8081/whep/x"))
	require.NoError(t, a.check("http://unknown.example/whep/x"), "names are checked at connection time when networks are listed")
	require.ErrorIs(t, a.check("http://127.0.0.1:8081/whep/x"), ErrNotAllowed)
	require.ErrorIs(t, a.check("http://127.0.0.1:8081/whep/x"), ErrBadSpec)

	names, err := parseAllowList([]string{"origin.example"})
	require.NoError(t, err)
	require.ErrorIs(t, names.check("http://other.example/whep/x"), ErrNotAllowed, "no network listed: refused at once")

	for _, bad := range []string{"10.0.0.0/33", "user@host", "host:80"} {
		_, err := parseAllowList([]string{bad})
		require.Error(t, err, bad)
	}
	none, err := parseAllowList(nil)
	require.NoError(t, err)
	require.NoError(t, none.check("http://127.0.0.1/x"))
}

// The dialler connects only to listed networks, whatever the name resolves to.
func TestAllowListDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	d := &net.Dialer{Timeout: 5 * time.Second}
	outside, err := parseAllowList([]string{"10.0.0.0/8"})
	require.NoError(t, err)
	_, err = outside.dial(d)(context.Background(), "tcp", net.JoinHostPort("localhost", strconv.Itoa(port)))
	require.ErrorIs(t, err, ErrNotAllowed)
	inside, err := parseAllowList([]string{"127.0.0.0/8"})
	require.NoError(t, err)
	c, err := inside.dial(d)(context.Background(), "tcp", net.JoinHostPort("localhost", strconv.Itoa(port)))
	require.NoError(t, err)
	c.Close()
}
