package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runUntilEnded is the run of a session that only waits to be asked to end.
func runUntilEnded(l *Life) func() { return func() { <-l.Ending() } }

func TestStopEndsTheSessionAndForgetsIt(t *testing.T) {
	m := NewManager()
	a, b := NewLife("cam"), NewLife("cam")
	require.NotEqual(t, a.ID(), b.ID())
	require.NoError(t, m.Go(a, nil, runUntilEnded(a)))
	require.NoError(t, m.Go(b, nil, runUntilEnded(b)))
	require.Equal(t, 2, m.Count())
	require.Equal(t, 2, m.CountFor("cam"))
	require.Equal(t, 0, m.CountFor("other"))

	_, ok := m.Lookup("other", a.ID())
	require.False(t, ok, "a session is found only under its own stream")
	l, ok := m.Lookup("cam", a.ID())
	require.True(t, ok)
	require.NoError(t, l.Stop(context.Background()))
	select {
	case <-a.Done():
	default:
		t.Fatal("Stop returned before the session was torn down")
	}
	_, ok = m.Lookup("cam", a.ID())
	require.False(t, ok, "a stopped session is forgotten")
	require.Equal(t, 1, m.Count())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, m.Run(ctx))
	require.Equal(t, 0, m.Count())
	<-b.Done()
}

func TestStopGivesUpWithItsContext(t *testing.T) {
	m := NewManager()
	l := NewLife("cam")
	release := make(chan struct{})
	require.NoError(t, m.Go(l, nil, func() { <-release }))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, l.Stop(ctx), context.DeadlineExceeded)
	close(release)
	<-l.Done()
}

func TestRunRefusesNewSessionsAndReserveIsNotCalled(t *testing.T) {
	m := NewManager()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, m.Run(ctx))
	reserved := false
	l := NewLife("cam")
	err := m.Go(l, func() error { reserved = true; return nil }, runUntilEnded(l))
	require.ErrorIs(t, err, ErrShuttingDown)
	require.False(t, reserved, "nothing is reserved once the manager is shutting down")
	require.Equal(t, 0, m.Count())
}

func TestReserveErrorStartsNothing(t *testing.T) {
	m := NewManager()
	errTaken := errors.New("taken")
	l := NewLife("cam")
	err := m.Go(l, func() error { return errTaken }, func() { t.Error("the session ran although its reservation failed") })
	require.ErrorIs(t, err, errTaken)
	require.Equal(t, 0, m.Count())
	// goleak (TestMain) fails the package if a goroutine was started anyway.
}

func TestRunWaitsForEverySession(t *testing.T) {
	m := NewManager()
	var lives []*Life
	for range 5 {
		l := NewLife("cam")
		lives = append(lives, l)
		require.NoError(t, m.Go(l, nil, runUntilEnded(l)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, m.Run(ctx))
	for _, l := range lives {
		select {
		case <-l.Done():
		default:
			t.Fatal("Run returned before a session was torn down")
		}
	}
}

func TestEndIsIdempotent(t *testing.T) {
	l := NewLife("cam")
	require.False(t, l.IsConnected())
	l.End()
	l.End()
	select {
	case <-l.Ending():
	default:
		t.Fatal("End did not close Ending")
	}
}
