package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vigilrec/vigil/internal/cluster"
	"github.com/vigilrec/vigil/internal/egress"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/pull"
)

// relays serve this node's WHEP viewers of streams another node of the cluster holds: one pull
// of the stream from its node, under the same name, shared by every viewer here, and stopped
// once the last viewer has been gone for idle. A relayed stream is a copy: it is not announced
// to the cluster, recorded, or listed by this node.
type relays struct {
	pulls  *pull.Manager
	hub    *hub.Hub
	egress *egress.Manager
	log    *slog.Logger
	idle   time.Duration

	mu     sync.Mutex
	active map[string]*relay // by stream name
}

type relay struct {
	node      string
	idleSince time.Time // zero while it has viewers
}

func newRelays(pulls *pull.Manager, h *hub.Hub, e *egress.Manager, log *slog.Logger) *relays {
	return &relays{pulls: pulls, hub: h, egress: e, log: log, idle: 10 * time.Second, active: map[string]*relay{}}
}

// Is says whether stream name here is a relay.
func (r *relays) Is(name string) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.active[name]
	return ok
}

// Ensure makes stream name, held by node, playable here: it starts the relay unless one runs,
// and waits until media flows (at most until ctx ends or 10 s).
func (r *relays) Ensure(ctx context.Context, name string, node cluster.Node) error {
	r.mu.Lock()
	_, running := r.active[name]
	if !running {
		r.active[name] = &relay{node: node.ID}
	}
	r.mu.Unlock()
	if !running {
		endpoint := strings.TrimSuffix(node.URL, "/") + "/whep/" + url.PathEscape(name)
		_, err := r.pulls.Start(ctx, []pull.Spec{{Local: name, Source: node.URL, Remote: name, Endpoint: endpoint}})
		if err != nil && !errors.Is(err, pull.ErrExists) {
			r.mu.Lock()
			delete(r.active, name)
			r.mu.Unlock()
			return fmt.Errorf("relay %s from node %s: %w", name, node.ID, err)
		}
		r.log.Info("relay started", "stream", name, "node", node.ID, "endpoint", endpoint)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if st, err := r.hub.Get(name); err == nil && st.Snapshot().Publishing() {
			return nil
		}
		select {
		case <-wait.Done():
			st, _ := r.pulls.Get(name)
			return fmt.Errorf("relay %s from node %s: no media yet (%s): %w", name, node.ID, st.LastError,
				context.DeadlineExceeded)
		case <-t.C:
		}
	}
}

// Run stops the relays nobody has watched for idle, until ctx ends.
func (r *relays) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := time.Now()
		var done []string
		r.mu.Lock()
		for name, rl := range r.active {
			switch {
			case r.egress.CountFor(name) > 0:
				rl.idleSince = time.Time{}
			case rl.idleSince.IsZero():
				rl.idleSince = now
			case now.Sub(rl.idleSince) >= r.idle:
				done = append(done, name)
			}
		}
		r.mu.Unlock()
		for _, name := range done {
			if _, err := r.pulls.Stop(ctx, name); err != nil && !errors.Is(err, pull.ErrNotFound) {
				r.log.Warn("relay stop", "stream", name, "err", err)
				continue
			}
			r.mu.Lock()
			delete(r.active, name)
			r.mu.Unlock()
			r.log.Info("relay stopped: no viewer left", "stream", name)
		}
	}
}
