package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/testutil"
)

// fakeLocal is a node's own state, set by the test.
type fakeLocal struct {
	mu      sync.Mutex
	streams map[string]string
	load    Load
}

func (f *fakeLocal) Streams() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.streams {
		out[k] = v
	}
	return out
}

func (f *fakeLocal) Load() Load {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load
}

func (f *fakeLocal) publish(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams[name] = "session-" + name
}

func newNode(t *testing.T, redisURL, id string) (*Cluster, *fakeLocal) {
	t.Helper()
	local := &fakeLocal{streams: map[string]string{}}
	c, err := New(Config{Redis: redisURL, Node: id, URL: "http://" + id + ":8081", Heartbeat: time.Second,
		TTL: 2 * time.Second}, local, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.rdb.Close() })
	return c, local
}

func TestPlacementSpreadsABurstAndFollowsReservations(t *testing.T) {
	redis := testutil.StartRedis(t)
	ctx := context.Background()
	a, localA := newNode(t, redis.URL(), "a")
	b, localB := newNode(t, redis.URL(), "b")
	c, _ := newNode(t, redis.URL(), "c")
	for _, n := range []*Cluster{a, b, c} {
		require.NoError(t, n.beat(ctx))
	}
	nodes, err := a.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 3)

	// Twelve placements in a burst, before any heartbeat reports the arrivals: the reservations
	// on their way count, so the three nodes get four each.
	placed := map[string]int{}
	for i := range 12 {
		n, err := a.Place(ctx, fmt.Sprintf("cam-%d", i))
		require.NoError(t, err)
		placed[n.ID]++
	}
	require.Equal(t, map[string]int{"a": 4, "b": 4, "c": 4}, placed)

	// The node a name was placed on keeps it, and a second ask anywhere is sent there again.
	n, err := a.Place(ctx, "cam-1")
	require.NoError(t, err)
	first := n.ID
	for _, other := range []*Cluster{a, b, c} {
		n, err := other.Place(ctx, "cam-1")
		require.NoError(t, err)
		require.Equal(t, first, n.ID)
	}

	// Published and reported by its heartbeat, a stream is found; a second publisher of the
	// name elsewhere is refused, naming the node.
	localB.publish("lobby")
	require.NoError(t, b.beat(ctx))
	node, entry, err := c.Locate(ctx, "lobby")
	require.NoError(t, err)
	require.Equal(t, "b", node.ID)
	require.Equal(t, "session-lobby", entry.Session)
	_, err = a.Place(ctx, "lobby")
	var taken *TakenError
	require.ErrorAs(t, err, &taken)
	require.Equal(t, "b", taken.Node.ID)
	n, err = b.Place(ctx, "lobby")
	require.NoError(t, err)
	require.Equal(t, "b", n.ID, "its own node is told to take it (the hub refuses a duplicate)")

	// A stream that ends leaves the directory at the next heartbeat.
	localB.mu.Lock()
	delete(localB.streams, "lobby")
	localB.mu.Unlock()
	require.NoError(t, b.beat(ctx))
	_, _, err = c.Locate(ctx, "lobby")
	require.ErrorIs(t, err, ErrNotFound)

	// A node with little disk gets nothing while another has room.
	localA.mu.Lock()
	localA.load.DiskLow = true
	localA.mu.Unlock()
	require.NoError(t, a.beat(ctx))
	for i := range 6 {
		n, err := a.Place(ctx, fmt.Sprintf("more-%d", i))
		require.NoError(t, err)
		require.NotEqual(t, "a", n.ID)
	}
}

func TestDeadNodesExpireAndLeavingIsImmediate(t *testing.T) {
	redis := testutil.StartRedis(t)
	ctx := context.Background()
	a, _ := newNode(t, redis.URL(), "a")
	b, localB := newNode(t, redis.URL(), "b")
	localB.publish("cam")
	require.NoError(t, a.beat(ctx))
	require.NoError(t, b.beat(ctx))

	// b stops beating (as if killed): within its TTL it is gone, with its stream, and its name
	// can be placed anew.
	testutil.WaitFor(t, "b expired", 5*time.Second, func() bool {
		require.NoError(t, a.beat(ctx))
		nodes, err := a.Nodes(ctx)
		require.NoError(t, err)
		return len(nodes) == 1 && nodes[0].ID == "a"
	})
	_, _, err := a.Locate(ctx, "cam")
	require.ErrorIs(t, err, ErrNotFound)
	n, err := a.Place(ctx, "cam")
	require.NoError(t, err)
	require.Equal(t, "a", n.ID)

	// A node that stops cleanly leaves at once.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	testutil.WaitFor(t, "b registered", 5*time.Second, func() bool {
		nodes, _ := a.Nodes(ctx)
		return len(nodes) == 2
	})
	stop()
	require.NoError(t, <-done)
	nodes, err := a.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
}

func TestRedisDownIsUnavailable(t *testing.T) {
	redis := testutil.StartRedis(t)
	ctx := context.Background()
	a, _ := newNode(t, redis.URL(), "a")
	require.NoError(t, a.beat(ctx))
	redis.Stop()
	start := time.Now()
	_, err := a.Place(ctx, "cam")
	require.ErrorIs(t, err, ErrUnavailable)
	_, _, err = a.Locate(ctx, "cam")
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = a.Nodes(ctx)
	require.ErrorIs(t, err, ErrUnavailable)
	require.Less(t, time.Since(start), 5*time.Second, "callers are answered quickly")
	a.observe(a.beat(ctx))
	require.False(t, a.Reachable())

	redis.Start()
	a.observe(a.beat(ctx))
	require.True(t, a.Reachable())
	nodes, err := a.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 1, "the registry is rebuilt by the next heartbeat")
	require.False(t, errors.Is(err, ErrUnavailable))
}

func TestPlacementFreesTheNameOfADeadNode(t *testing.T) {
	redis := testutil.StartRedis(t)
	ctx := context.Background()
	a, _ := newNode(t, redis.URL(), "a")
	b, localB := newNode(t, redis.URL(), "b")
	localB.publish("cam")
	require.NoError(t, a.beat(ctx))
	require.NoError(t, b.beat(ctx))
	// b's registry entry is gone (dead) while its stream's entry has not expired yet.
	require.NoError(t, a.rdb.Del(ctx, nodeKey("b")).Err())
	n, err := a.Place(ctx, "cam")
	require.NoError(t, err)
	require.Equal(t, "a", n.ID)
}

func TestLocateBySession(t *testing.T) {
	redis := testutil.StartRedis(t)
	ctx := context.Background()
	a, localA := newNode(t, redis.URL(), "a")
	localA.publish("cam")
	require.NoError(t, a.beat(ctx))
	node, name, err := a.LocateSession(ctx, "session-cam")
	require.NoError(t, err)
	require.Equal(t, "a", node.ID)
	require.Equal(t, "cam", name)
	_, _, err = a.LocateSession(ctx, "session-other")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestAffinityPinsNamesToALiveNode(t *testing.T) {
	redis := testutil.StartRedis(t)
	ctx := context.Background()
	a, _ := newNode(t, redis.URL(), "a")
	a.cfg.Affinity = []Affinity{{Pattern: "lobby-*", Node: "b"}, {Pattern: "gate-*", Node: "gone"}}
	b, _ := newNode(t, redis.URL(), "b")
	require.NoError(t, a.beat(ctx))
	require.NoError(t, b.beat(ctx))
	for i := range 3 {
		n, err := a.Place(ctx, fmt.Sprintf("lobby-%d", i))
		require.NoError(t, err)
		require.Equal(t, "b", n.ID, "pinned whatever the load")
	}
	n, err := a.Place(ctx, "gate-1")
	require.NoError(t, err)
	require.Equal(t, "a", n.ID, "pinned to a node that is not alive: placed by load")
}
