package pull

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/session"
)

var errBoom = errors.New("boom")

func newTestManager(t *testing.T, cfg Config, h *hub.Hub, play func(ctx context.Context, s *source) error) *Manager {
	t.Helper()
	m, err := NewManager(cfg, h, discardLogger())
	require.NoError(t, err)
	m.play = play
	return m
}

func spec(local string) Spec {
	return Spec{Local: local, Source: "http://remote:8081", Remote: "cam", Endpoint: "http://remote:8081/whep/cam"}
}

var testTracks = []hub.TrackInfo{
	{Kind: media.KindVideo, Codec: media.H264, ClockRate: 90000},
	{Kind: media.KindAudio, Codec: media.Opus, ClockRate: 48000, Channels: 2},
}

// A pull whose attempts fail waits capped, doubling, jittered pauses between them, shows the
// last error and the attempt count, and stops at once when asked.
func TestSupervisorBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var attempts []time.Time
		m := newTestManager(t, Config{}, hub.New(hub.Config{}), func(context.Context, *source) error {
			mu.Lock()
			attempts = append(attempts, time.Now())
			mu.Unlock()
			return errBoom
		})
		t.Cleanup(func() { _, _ = m.Stop(context.Background(), "a") })
		list, err := m.Start(t.Context(), []Spec{spec("a")})
		require.NoError(t, err)
		require.Equal(t, StateRetrying, list[0].State, "the answer shows the first attempt's outcome")
		require.Equal(t, "boom", list[0].LastError)
		require.Equal(t, 1, list[0].Attempts)
		require.False(t, list[0].NextAttempt.IsZero())

		time.Sleep(70 * time.Second)
		synctest.Wait()
		mu.Lock()
		got := append([]time.Time(nil), attempts...)
		mu.Unlock()
		steps := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
			8 * time.Second, 10 * time.Second, 10 * time.Second}
		require.Greater(t, len(got), len(steps))
		for i, step := range steps {
			gap := got[i+1].Sub(got[i])
			require.GreaterOrEqual(t, gap, step/2, "wait %d", i+1)
			require.LessOrEqual(t, gap, step, "wait %d", i+1)
		}
		st, err := m.Get("a")
		require.NoError(t, err)
		require.Equal(t, StateRetrying, st.State)
		require.Equal(t, len(got), st.Attempts)

		st, err = m.Stop(t.Context(), "a")
		require.NoError(t, err)
		require.Equal(t, StateStopped, st.State)
		require.Empty(t, m.List())
		_, err = m.Get("a")
		require.ErrorIs(t, err, ErrNotFound)
		_, err = m.Stop(t.Context(), "a")
		require.ErrorIs(t, err, ErrNotFound)
	})
}

// fakeSession plays a session of d (attaching testTracks like a real one), then ends.
func fakeSession(d time.Duration) func(ctx context.Context, s *source) error {
	return func(ctx context.Context, s *source) error {
		if _, err := s.attach(testTracks); err != nil {
			return err
		}
		s.playing("fake", testTracks)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return errRemoteEnded
		}
	}
}

// The local stream is held while the pull reconnects: a session that plays again within Hold
// continues the same stream; after Hold without one, the stream is closed, and the next session
// makes a new one. A session that played long enough starts the backoff over.
func TestSupervisorHoldsTheStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := hub.New(hub.Config{})
		var mu sync.Mutex
		var script []func(context.Context, *source) error
		m := newTestManager(t, Config{Hold: 5 * time.Second}, h, func(ctx context.Context, s *source) error {
			mu.Lock()
			next := script[0]
			if len(script) > 1 {
				script = script[1:]
			}
			mu.Unlock()
			return next(ctx, s)
		})
		fail := func(context.Context, *source) error { return errBoom }
		script = []func(context.Context, *source) error{
			fakeSession(20 * time.Second), // plays, ends: held
			fail,                          // retry within Hold
			fakeSession(3 * time.Second),  // same stream again (attempts start over: it had played 20 s)
			fail, fail, fail, fail, fail,  // Hold runs out while they fail
			fakeSession(time.Hour), // a new stream
		}
		t.Cleanup(func() { _, _ = m.Stop(context.Background(), "a") })
		_, err := m.Start(t.Context(), []Spec{spec("a")})
		require.NoError(t, err)
		first, err := h.Get("a")
		require.NoError(t, err)

		time.Sleep(22 * time.Second) // the first session ended, a retry failed, the second plays
		synctest.Wait()
		st, _ := m.Get("a")
		require.Equal(t, StatePlaying, st.State)
		require.Equal(t, 2, st.Sessions)
		again, err := h.Get("a")
		require.NoError(t, err)
		require.Same(t, first, again, "held across the reconnection")
		require.Equal(t, first.ID(), st.MediaSessionID)

		time.Sleep(9 * time.Second) // ended after 3 s; failing since, for more than Hold
		synctest.Wait()
		st, _ = m.Get("a")
		require.Equal(t, StateRetrying, st.State)
		require.Empty(t, st.MediaSessionID, "the stream was closed when Hold ran out")
		_, err = h.Get("a")
		require.ErrorIs(t, err, hub.ErrStreamNotFound)
		select {
		case <-first.Done():
		default:
			t.Fatal("the held stream was not closed")
		}

		time.Sleep(50 * time.Second) // six waits of 1-2, 2-4, 4-8, 5-10, 5-10, 5-10 s
		synctest.Wait()
		st, _ = m.Get("a")
		require.Equal(t, StatePlaying, st.State)
		require.Equal(t, 3, st.Sessions)
		third, err := h.Get("a")
		require.NoError(t, err)
		require.NotEqual(t, first.ID(), third.ID())

		// A kick through the hub ends the pull for good.
		third.Disconnect()
		<-third.Done()
		synctest.Wait()
		require.Empty(t, m.List())
	})
}

// Start is all or nothing: one name in use (by a pull, by a live stream, or twice in the batch)
// and nothing starts.
func TestStartAllOrNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := hub.New(hub.Config{})
		blocked := func(ctx context.Context, _ *source) error { <-ctx.Done(); return ctx.Err() }
		m := newTestManager(t, Config{StartWait: time.Millisecond}, h, blocked)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()

		list, err := m.Start(t.Context(), []Spec{spec("a"), spec("b")})
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, StateConnecting, list[0].State)

		st, err := h.Create("live", quietSource{})
		require.NoError(t, err)
		defer st.Close()
		for _, batch := range [][]Spec{
			{spec("c"), spec("a")},
			{spec("c"), spec("live")},
			{spec("c"), spec("c")},
		} {
			_, err := m.Start(t.Context(), batch)
			require.ErrorIs(t, err, ErrExists)
			_, err = m.Get("c")
			require.ErrorIs(t, err, ErrNotFound, "nothing of a refused batch starts")
		}
		_, err = m.Start(t.Context(), nil)
		require.ErrorIs(t, err, ErrBadSpec)
		require.Len(t, m.List(), 2)
		require.Equal(t, "a", m.List()[0].Local)

		cancel()
		require.NoError(t, <-done)
		require.Empty(t, m.List())
		_, err = m.Start(t.Context(), []Spec{spec("d")})
		require.ErrorIs(t, err, session.ErrShuttingDown)
	})
}

// Configured pulls start with Run and stop with it.
func TestStaticPulls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		blocked := func(ctx context.Context, _ *source) error { <-ctx.Done(); return ctx.Err() }
		m := newTestManager(t, Config{Static: []Spec{spec("s1"), spec("s2")}}, hub.New(hub.Config{}), blocked)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		synctest.Wait()
		require.Len(t, m.List(), 2)
		cancel()
		require.NoError(t, <-done)
		require.Empty(t, m.List())
	})
}

type quietSource struct{}

func (quietSource) RequestKeyframe() {}
func (quietSource) Disconnect()      {}
