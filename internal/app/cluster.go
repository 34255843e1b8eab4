package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/vigilrec/vigil/internal/cluster"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/hub"
)

// newCluster joins the cluster of cfg.Cluster.Redis; nil without one (a single node).
func newCluster(cfg config.Config, httpAddr net.Addr, local cluster.Local, log *slog.Logger) (*cluster.Cluster, error) {
	if cfg.Cluster.Redis == "" {
		return nil, nil
	}
	id := cfg.Cluster.Node
	if id == "" {
		id = cfg.S3.Node
	}
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cluster.node: empty and no host name: %w", err)
		}
		id = host
	}
	base := cfg.Cluster.URL
	if base == "" {
		base = advertisedURL(cfg, httpAddr)
	}
	var affinity []cluster.Affinity
	for _, a := range cfg.Cluster.Affinity {
		pattern, node, _ := strings.Cut(a, "=") // validated by config
		affinity = append(affinity, cluster.Affinity{Pattern: pattern, Node: node})
	}
	c, err := cluster.New(cluster.Config{Redis: cfg.Cluster.Redis, Node: id, URL: base,
		Heartbeat: cfg.Cluster.Heartbeat.D(), TTL: cfg.Cluster.TTL.D(), Affinity: affinity}, local, log)
	if err != nil {
		return nil, err
	}
	log.Info("joining the cluster", "node", id, "url", base)
	return c, nil
}

// advertisedURL is this node's HTTP base URL as others reach it: the first public IP, else the
// address it listens on when that names one host, else the host name; with the bound port.
func advertisedURL(cfg config.Config, httpAddr net.Addr) string {
	host := ""
	port := "8081"
	if tcp, ok := httpAddr.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
		if !tcp.IP.IsUnspecified() {
			host = tcp.IP.String()
		}
	}
	if len(cfg.PublicIPs) > 0 {
		host = cfg.PublicIPs[0]
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	scheme := "http"
	if cfg.TLS.Cert != "" {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}).String()
}

// clusterLocal tells the cluster about this node.
type clusterLocal struct{ a *App }

func (l clusterLocal) Streams() map[string]string {
	out := map[string]string{}
	for _, s := range l.a.hub.List() {
		if !l.a.relays.Is(s.Name()) { // a copy; the stream is another node's
			out[s.Name()] = s.ID()
		}
	}
	return out
}

// streamsView is the hub as the API lists and finds streams: without the relays, which are
// copies of other nodes' streams (a call about one goes to its node).
type streamsView struct {
	h      *hub.Hub
	relays *relays
}

func (v streamsView) List() []*hub.Stream {
	var out []*hub.Stream
	for _, s := range v.h.List() {
		if !v.relays.Is(s.Name()) {
			out = append(out, s)
		}
	}
	return out
}

func (v streamsView) Get(name string) (*hub.Stream, error) {
	if v.relays.Is(name) {
		return nil, fmt.Errorf("%w: %s", hub.ErrStreamNotFound, name)
	}
	return v.h.Get(name)
}

func (v streamsView) GetByID(id string) (*hub.Stream, error) {
	s, err := v.h.GetByID(id)
	if err == nil && v.relays.Is(s.Name()) {
		return nil, fmt.Errorf("%w: media session %s", hub.ErrStreamNotFound, id)
	}
	return s, err
}

func (l clusterLocal) Load() cluster.Load {
	g := l.a.guard.Snapshot()
	load := cluster.Load{Recordings: len(l.a.rec.Active()), FreeBytes: g.Free, DiskLow: g.Low || g.Paused}
	if g.TimeToFull > 0 {
		load.TimeToFull = g.TimeToFull.Seconds()
	}
	return load
}
