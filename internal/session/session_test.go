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

func answer() (string, error) { return "v=0", nil }

func start(m *Manager, l *Life, reserve func() error, run func()) error {
	got, err := m.Start(l, reserve, run, answer)
	if err == nil && got != "v=0" {
		return errors.New("Start did not return the answer")
	}
	return err
}

var errNotFound = errors.New("not found")

func TestStopEndsTheSessionAndForgetsIt(t *testing.T) {
	m := NewManager()
	a, b := NewLife("cam"), NewLife("cam")
	require.NotEqual(t, a.ID(), b.ID())
	require.NoError(t, start(m, a, nil, runUntilEnded(a)))
	require.NoError(t, start(m, b, nil, runUntilEnded(b)))
	require.Equal(t, 2, m.Count())
	require.Equal(t, 2, m.CountFor("cam"))
	require.Equal(t, 0, m.CountFor("other"))

	require.ErrorIs(t, m.Stop(context.Background(), "other", a.ID(), errNotFound), errNotFound,
		"a session is found only under its own stream")
	require.ErrorIs(t, m.Stop(context.Background(), "cam", "nope", errNotFound), errNotFound)
	require.NoError(t, m.Stop(context.Background(), "cam", a.ID(), errNotFound))
	select {
	case <-a.Done():
	default:
		t.Fatal("Stop returned before the session was torn down")
	}
	_, ok := m.Lookup("cam", a.ID())
	require.False(t, ok, "a stopped session is forgotten")
	require.Equal(t, 1, m.Count())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, m.Run(ctx))
	require.Equal(t, 0, m.Count())
	<-b.Done()
	require.Equal(t, "stopped", a.Reason())
	require.Equal(t, "server shutting down", b.Reason())
}

func TestStopGivesUpWithItsContext(t *testing.T) {
	m := NewManager()
	l := NewLife("cam")
	release := make(chan struct{})
	require.NoError(t, start(m, l, nil, func() { <-release }))
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
	_, err := m.Start(l, func() error { reserved = true; return nil }, runUntilEnded(l), answer)
	require.ErrorIs(t, err, ErrShuttingDown)
	require.False(t, reserved, "nothing is reserved once the manager is shutting down")
	require.Equal(t, 0, m.Count())
}

func TestReserveErrorStartsNothing(t *testing.T) {
	m := NewManager()
	errTaken := errors.New("taken")
	l := NewLife("cam")
	_, err := m.Start(l, func() error { return errTaken }, func() { t.Error("the session ran although its reservation failed") },
		func() (string, error) { t.Error("negotiated although the reservation failed"); return "", nil })
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
		require.NoError(t, start(m, l, nil, runUntilEnded(l)))
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
	require.Empty(t, l.Reason(), "no reason before the end")
	l.EndBecause("first")
	l.End()
	l.EndBecause("second")
	require.Equal(t, "first", l.Reason(), "the first reason given stays")
	select {
	case <-l.Ending():
	default:
		t.Fatal("End did not close Ending")
	}
}

func TestFailedNegotiationTearsTheSessionDown(t *testing.T) {
	m := NewManager()
	l := NewLife("cam")
	errRefused := errors.New("refused")
	tornDown := false
	_, err := m.Start(l, nil, func() { <-l.Ending(); tornDown = true }, func() (string, error) { return "", errRefused })
	require.ErrorIs(t, err, errRefused)
	require.True(t, tornDown, "Start returns once the session is torn down")
	require.Equal(t, 0, m.Count())
}
