package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Events arrive signed, with ids, in order; a receiver that fails first gets them again (at
// least once), and one slow URL does not hold up another.
func TestDeliverySignedAndRetried(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	failures := 2
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		require.Equal(t, "sha256="+Sign("s3cret", body), r.Header.Get(SignatureHeader))
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev Event
		require.NoError(t, json.Unmarshal(body, &ev))
		require.Equal(t, ev.Type, r.Header.Get("X-Vigil-Event"))
		got = append(got, ev)
	}))
	defer recv.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer slow.Close()
	defer close(block)

	d := New(Config{URLs: []string{recv.URL, slow.URL}, Secret: "s3cret", RetryMin: 10 * time.Millisecond,
		RetryMax: 50 * time.Millisecond, Timeout: 30 * time.Second}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	d.Send("segment.closed", map[string]any{"file": "a.mp4"})
	d.Send("disk.low", map[string]any{"free": 1})

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "events not delivered")
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "segment.closed", got[0].Type)
	require.Equal(t, "disk.low", got[1].Type)
	require.NotEqual(t, got[0].ID, got[1].ID)
	st := d.Stats()
	require.EqualValues(t, 2, st.Delivered)
	require.EqualValues(t, 2, st.Failures)
}

func TestSendWithoutURLsIsNoop(t *testing.T) {
	d := New(Config{}, slog.New(slog.DiscardHandler))
	d.Send("x", nil)
	require.Zero(t, d.Stats().Queue)
}
