// Package cluster joins vigil nodes through one Redis: a registry of the live nodes with their
// load, and a directory of the streams (name → node). Every entry carries a TTL and is refreshed
// by its node's heartbeat, so a node that dies leaves both by itself. There is no protocol of
// vigil's own between nodes: placement reads the registry, and requests for a stream elsewhere
// go to its node over the HTTP API every node already serves.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable means Redis cannot be reached: the cluster's state is unknown. Each node keeps
// serving its own streams; what needs another node waits until Redis is back.
var ErrUnavailable = errors.New("the cluster state (Redis) is unreachable")

// ErrNotFound means no live node holds the stream.
var ErrNotFound = errors.New("no node of the cluster holds this stream")

// TakenError means another node publishes the stream already.
type TakenError struct{ Node Node }

func (e *TakenError) Error() string {
	return fmt.Sprintf("the stream is already published on node %s (%s)", e.Node.ID, e.Node.URL)
}

// Config is how this node joins.
type Config struct {
	// Redis is the server's URL, redis://host:port/db.
	Redis string
	// Node is this node's unique name; URL is its HTTP base URL, as clients and nodes reach it.
	Node, URL string
	// Heartbeat is the refresh period; TTL how long an entry outlives its last refresh.
	Heartbeat, TTL time.Duration
	// Reserve is how long a placement holds a stream name for its node before the publisher
	// arrives there. Default 15 s.
	Reserve time.Duration
	// Affinity pins names matching a pattern (path.Match) to a node while it is alive.
	Affinity []Affinity
}

// Affinity is one stream-name pattern pinned to a node.
type Affinity struct{ Pattern, Node string }

// Load is what placement weighs.
type Load struct {
	// Streams are the streams published on the node; Recordings its open recordings.
	Streams    int `json:"streams"`
	Recordings int `json:"recordings"`
	// CPU is the process's share of the machine's cores over the last heartbeat (0 to 1).
	CPU float64 `json:"cpu"`
	// FreeBytes is the recordings volume's free space; DiskLow says it is under disk.min_free.
	FreeBytes uint64 `json:"free_bytes"`
	DiskLow   bool   `json:"disk_low"`
	// TimeToFull is the recordings volume's time to full at the recent write rate (0: unknown).
	TimeToFull float64 `json:"time_to_full_seconds"`
}

// Node is one live node of the registry.
type Node struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	Load
	// Updated is the node's last heartbeat.
	Updated time.Time `json:"updated"`
}

// Entry is a stream's directory entry.
type Entry struct {
	Node string `json:"node"`
	// Session is the media session id; empty while the name is only reserved by a placement.
	Session string `json:"session,omitempty"`
}

// Local is what this node tells the cluster of itself.
type Local interface {
	// Streams maps the streams published here to their media session ids.
	Streams() map[string]string
	// Load is this node's load now (Streams and CPU are filled in by the cluster).
	Load() Load
}

const prefix = "vigil:"

func nodeKey(id string) string     { return prefix + "node:" + id }
func streamKey(name string) string { return prefix + "stream:" + name }
func placedKey(id string) string   { return prefix + "placed:" + id }
func sessionKey(id string) string  { return prefix + "session:" + id }

const nodesKey = prefix + "nodes"

// Cluster is this node's membership.
type Cluster struct {
	cfg   Config
	rdb   *redis.Client
	local Local
	log   *slog.Logger
	cpu   cpuMeter
	// placing serializes this node's placements, so a burst of publishers spreads evenly.
	placing sync.Mutex
	// reachable is false while Redis fails; it is logged once per change.
	reachable atomic.Bool
	// published are the streams of the last heartbeat, to remove those that ended.
	published map[string]bool
}

// New connects to nothing yet: Run's first heartbeat does.
func New(cfg Config, local Local, log *slog.Logger) (*Cluster, error) {
	opts, err := redis.ParseURL(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("cluster.redis: %w", err)
	}
	// Short timeouts and no retries: a node asking Redis answers its own client, which must not
	// wait long when Redis is down (it is then answered 503, or served locally).
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, time.Second, time.Second
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	// The client's own messages (failed dials while Redis is down) go to vigil's log. Its logger
	// is process-wide; a process has one cluster membership.
	redis.SetLogger(redisLog{log})
	if cfg.Reserve == 0 {
		cfg.Reserve = 15 * time.Second
	}
	c := &Cluster{cfg: cfg, rdb: redis.NewClient(opts), local: local, log: log, published: map[string]bool{}}
	c.reachable.Store(true)
	return c, nil
}

// Self is this node as the registry shows it.
func (c *Cluster) Self() Node { return Node{ID: c.cfg.Node, URL: c.cfg.URL} }

// Reachable says whether Redis answered last time it was asked.
func (c *Cluster) Reachable() bool { return c.reachable.Load() }

// Run heartbeats until ctx ends, then leaves the cluster: its entries are deleted so the others
// forget it at once rather than after the TTL.
func (c *Cluster) Run(ctx context.Context) error {
	defer c.rdb.Close()
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	// Between heartbeats a stream that starts or ends is announced within this, so a call about
	// it on another node finds it (or no longer finds it) at once.
	changes := time.NewTicker(min(c.cfg.Heartbeat, 100*time.Millisecond))
	defer changes.Stop()
	for {
		c.observe(c.beat(ctx))
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				leave, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				c.observe(c.leave(leave))
				cancel()
				return nil
			case <-t.C:
				waiting = false
			case <-changes.C:
				waiting = !c.changed()
			}
		}
	}
}

// changed says whether this node's streams differ from those of the last heartbeat.
func (c *Cluster) changed() bool {
	streams := c.local.Streams()
	if len(streams) != len(c.published) {
		return true
	}
	for name := range streams {
		if !c.published[name] {
			return true
		}
	}
	return false
}

// observe records whether Redis answered, and logs the changes.
func (c *Cluster) observe(err error) {
	switch {
	case err == nil && !c.reachable.Swap(true):
		c.log.Info("cluster state reachable again", "redis", redactedRedis(c.cfg.Redis))
	case err != nil && c.reachable.Swap(false):
		c.log.Warn("cluster state unreachable: serving this node's own streams only", "redis",
			redactedRedis(c.cfg.Redis), "err", err)
	}
}

// beat refreshes this node's registry entry and its streams' directory entries, and removes the
// entries of streams that ended since the last beat.
func (c *Cluster) beat(ctx context.Context) error {
	streams := c.local.Streams()
	load := c.local.Load()
	load.Streams = len(streams)
	load.CPU = c.cpu.sample()
	node := Node{ID: c.cfg.Node, URL: c.cfg.URL, Load: load, Updated: time.Now().UTC()}
	data, err := json.Marshal(node)
	if err != nil {
		return fmt.Errorf("encode node: %w", err)
	}
	pipe := c.rdb.Pipeline()
	pipe.Set(ctx, nodeKey(c.cfg.Node), data, c.cfg.TTL)
	pipe.SAdd(ctx, nodesKey, c.cfg.Node)
	names := make([]any, 0, len(streams))
	for name, session := range streams {
		entry, _ := json.Marshal(Entry{Node: c.cfg.Node, Session: session})
		pipe.Set(ctx, streamKey(name), entry, c.cfg.TTL)
		pipe.Set(ctx, sessionKey(session), name, c.cfg.TTL)
		names = append(names, name)
	}
	// Placements that arrived are counted in Streams now; expired ones never arrived.
	if len(names) > 0 {
		pipe.ZRem(ctx, placedKey(c.cfg.Node), names...)
	}
	pipe.ZRemRangeByScore(ctx, placedKey(c.cfg.Node), "-inf", strconv.FormatInt(time.Now().UnixMilli(), 10))
	for name := range c.published {
		if _, still := streams[name]; !still {
			pipe.Eval(ctx, removeIfOwned, []string{streamKey(name)}, c.cfg.Node)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("heartbeat: %w", err)
	}
	c.published = map[string]bool{}
	for name := range streams {
		c.published[name] = true
	}
	return nil
}

// removeIfOwned deletes a directory entry only if it is still this node's: the stream may have
// been published again on another node since.
const removeIfOwned = `
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['node'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

func (c *Cluster) leave(ctx context.Context) error {
	pipe := c.rdb.Pipeline()
	pipe.Del(ctx, nodeKey(c.cfg.Node), placedKey(c.cfg.Node))
	pipe.SRem(ctx, nodesKey, c.cfg.Node)
	for name := range c.published {
		pipe.Eval(ctx, removeIfOwned, []string{streamKey(name)}, c.cfg.Node)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}

// Nodes lists the live nodes by id.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	ids, err := c.rdb.SMembers(ctx, nodesKey).Result()
	if err != nil {
		c.observe(err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = nodeKey(id)
	}
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		c.observe(err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var nodes []Node
	var gone []any
	for i, v := range vals {
		s, ok := v.(string)
		var n Node
		if !ok || json.Unmarshal([]byte(s), &n) != nil {
			gone = append(gone, ids[i]) // its entry expired: the node is dead
			continue
		}
		nodes = append(nodes, n)
	}
	if len(gone) > 0 {
		c.rdb.SRem(ctx, nodesKey, gone...) // tidying only; the next caller tries again
	}
	return nodes, nil
}

// Locate finds the live node holding stream name. ErrNotFound when none does; ErrUnavailable
// when Redis cannot be asked.
func (c *Cluster) Locate(ctx context.Context, name string) (Node, Entry, error) {
	entry, err := c.entry(ctx, name)
	if err != nil {
		return Node{}, Entry{}, err
	}
	if entry == nil {
		return Node{}, Entry{}, ErrNotFound
	}
	node, err := c.node(ctx, entry.Node)
	if err != nil {
		return Node{}, Entry{}, err
	}
	if node == nil {
		return Node{}, Entry{}, ErrNotFound
	}
	return *node, *entry, nil
}

// LocateSession finds the live node holding the stream of media session id, and the stream's
// name.
func (c *Cluster) LocateSession(ctx context.Context, id string) (Node, string, error) {
	name, err := c.rdb.Get(ctx, sessionKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return Node{}, "", ErrNotFound
	}
	if err != nil {
		c.observe(err)
		return Node{}, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	node, entry, err := c.Locate(ctx, name)
	if err != nil {
		return Node{}, "", err
	}
	if entry.Session != id {
		return Node{}, "", ErrNotFound // the name was published again since
	}
	return node, name, nil
}

func (c *Cluster) entry(ctx context.Context, name string) (*Entry, error) {
	s, err := c.rdb.Get(ctx, streamKey(name)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		c.observe(err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var e Entry
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return nil, nil // not ours to read; treated as absent
	}
	return &e, nil
}

func (c *Cluster) node(ctx context.Context, id string) (*Node, error) {
	s, err := c.rdb.Get(ctx, nodeKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		c.observe(err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var n Node
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		return nil, nil
	}
	return &n, nil
}

// Place chooses the node for a new publisher of stream name: the node already reserved for it,
// else the least loaded live node (this one on a tie). The name is reserved for the chosen node
// until its publisher arrives (Config.Reserve), so the node it is sent to keeps it and a burst
// of placements counts the ones still on their way. A stream published on another node is a
// *TakenError.
func (c *Cluster) Place(ctx context.Context, name string) (Node, error) {
	c.placing.Lock()
	defer c.placing.Unlock()
	self := c.Self()
	for attempt := 0; attempt < 3; attempt++ {
		if entry, err := c.entry(ctx, name); err != nil {
			return Node{}, err
		} else if entry != nil {
			if entry.Node == self.ID {
				return self, nil
			}
			node, err := c.node(ctx, entry.Node)
			if err != nil {
				return Node{}, err
			}
			switch {
			case node != nil && entry.Session == "":
				return *node, nil // reserved there by an earlier placement
			case node != nil:
				return Node{}, &TakenError{Node: *node}
			}
			// Its node is dead: the name is free once its stale entry is gone.
			if err := c.rdb.Eval(ctx, removeIfOwned, []string{streamKey(name)}, entry.Node).Err(); err != nil &&
				!errors.Is(err, redis.Nil) {
				c.observe(err)
				return Node{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
		chosen, err := c.choose(ctx, name)
		if err != nil {
			return Node{}, err
		}
		reservation, _ := json.Marshal(Entry{Node: chosen.ID})
		ok, err := c.rdb.SetNX(ctx, streamKey(name), reservation, c.cfg.Reserve).Result()
		if err != nil {
			c.observe(err)
			return Node{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if !ok {
			continue // another node placed it meanwhile: follow that placement
		}
		expiry := float64(time.Now().Add(c.cfg.Reserve).UnixMilli())
		if err := c.rdb.ZAdd(ctx, placedKey(chosen.ID), redis.Z{Score: expiry, Member: name}).Err(); err != nil {
			c.observe(err)
			return Node{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return chosen, nil
	}
	return Node{}, fmt.Errorf("place %s: the name keeps changing hands", name)
}

// choose is the node a stream name is pinned to (Config.Affinity) if that node is alive, else
// the least loaded live node: fewest streams, counting those placed on it and not
// arrived yet; nodes whose disk is low or whose CPU is nearly saturated only when every node is.
// This node wins a tie (no redirect), then the lowest id.
func (c *Cluster) choose(ctx context.Context, name string) (Node, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Node{}, err
	}
	for _, a := range c.cfg.Affinity {
		if ok, _ := path.Match(a.Pattern, name); !ok {
			continue
		}
		if i := slices.IndexFunc(nodes, func(n Node) bool { return n.ID == a.Node }); i >= 0 {
			return nodes[i], nil
		}
		break // pinned to a node that is not alive: placed by load
	}
	self := c.Self()
	if !slices.ContainsFunc(nodes, func(n Node) bool { return n.ID == self.ID }) {
		nodes = append(nodes, self) // not registered yet (first heartbeat pending)
	}
	pipe := c.rdb.Pipeline()
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	pending := make([]*redis.IntCmd, len(nodes))
	for i, n := range nodes {
		pending[i] = pipe.ZCount(ctx, placedKey(n.ID), now, "+inf")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.observe(err)
		return Node{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	type candidate struct {
		node      Node
		load      int64
		strained  bool
		tieBreaks int
	}
	cands := make([]candidate, len(nodes))
	for i, n := range nodes {
		cands[i] = candidate{node: n, load: int64(n.Streams) + pending[i].Val(), strained: n.DiskLow || n.CPU > 0.9}
		if n.ID != self.ID {
			cands[i].tieBreaks = 1
		}
	}
	best := slices.MinFunc(cands, func(a, b candidate) int {
		if a.strained != b.strained {
			if a.strained {
				return 1
			}
			return -1
		}
		if a.load != b.load {
			return int(a.load - b.load)
		}
		if a.tieBreaks != b.tieBreaks {
			return a.tieBreaks - b.tieBreaks
		}
		if a.node.ID < b.node.ID {
			return -1
		}
		return 1
	})
	return best.node, nil
}

// redisLog passes the Redis client's messages to slog, at debug level: the cluster logs the
// state changes that matter itself.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis client", "msg", fmt.Sprintf(format, v...))
}

func redactedRedis(raw string) string {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return opts.Addr
}
