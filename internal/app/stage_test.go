package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStageReportsAFailureWhileRunning(t *testing.T) {
	failed := make(chan error, 1)
	boom := errors.New("boom")
	st := startStage("background", failed, map[string]func(context.Context) error{
		"steady":  func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		"failing": func(context.Context) error { return boom },
	})
	select {
	case err := <-failed:
		require.ErrorIs(t, err, boom)
		require.ErrorContains(t, err, "failing: boom")
	case <-time.After(10 * time.Second):
		t.Fatal("the failure was not reported")
	}
	grace, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, st.stop(grace), "a failure already reported is not reported again")
}

func TestStageReturnsErrorsOfStopping(t *testing.T) {
	failed := make(chan error, 1)
	st := startStage("sessions", failed, map[string]func(context.Context) error{
		"ingest": func(ctx context.Context) error { <-ctx.Done(); return errors.New("close listener: bad") },
	})
	grace, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.ErrorContains(t, st.stop(grace), "ingest: close listener: bad")
	require.Empty(t, failed)
}

func TestStageStopIsBoundedByGrace(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	st := startStage("recordings", make(chan error, 1), map[string]func(context.Context) error{
		"recorder": func(context.Context) error { <-release; return nil }, // ignores its context
	})
	grace, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := st.stop(grace)
	require.ErrorIs(t, err, errStillRunning)
	require.ErrorContains(t, err, "recordings")
}
