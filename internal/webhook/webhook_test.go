package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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
		RetryMax: 50 * time.Millisecond, Timeout: 30 * time.Second}, nil, slog.New(slog.DiscardHandler))
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
	require.Equal(t, "segment.closed", got[0].Type)
	require.Equal(t, "disk.low", got[1].Type)
	require.NotEqual(t, got[0].ID, got[1].ID)
	mu.Unlock()
	// The counter moves once the receiver's answer is read, just after the receiver saw the event.
	for d.Stats().Delivered < 2 {
		require.True(t, time.Now().Before(deadline), "deliveries not counted")
		time.Sleep(5 * time.Millisecond)
	}
	require.EqualValues(t, 2, d.Stats().Failures)
}

func TestSendWithoutURLsIsNoop(t *testing.T) {
	d := New(Config{}, nil, slog.New(slog.DiscardHandler))
	d.Send("x", nil)
	require.Zero(t, d.Stats().Queue)
}

// memStore is a Store in memory, standing for the catalog across a "restart".
type memStore struct {
	mu   sync.Mutex
	seq  int
	keys []string
	urls map[string]string
	data map[string][]byte
}

func newMemStore() *memStore {
	return &memStore{urls: map[string]string{}, data: map[string][]byte{}}
}

func (m *memStore) Put(url string, ev []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	k := url + "#" + strconv.Itoa(m.seq)
	m.keys = append(m.keys, k)
	m.urls[k], m.data[k] = url, ev
	return k, nil
}

func (m *memStore) Delete(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, key)
	return nil
}

func (m *memStore) Pending(url string) ([]string, [][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	var evs [][]byte
	for _, k := range m.keys {
		if d, ok := m.data[k]; ok && m.urls[k] == url {
			keys, evs = append(keys, k), append(evs, d)
		}
	}
	return keys, evs, nil
}

// Events not delivered before a shutdown are delivered by the next run (at least once).
func TestUndeliveredEventsSurviveRestart(t *testing.T) {
	var mu sync.Mutex
	up := false
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		var ev Event
		require.NoError(t, json.NewDecoder(r.Body).Decode(&ev))
		got = append(got, ev.Type)
	}))
	defer recv.Close()
	store := newMemStore()
	cfg := Config{URLs: []string{recv.URL}, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond}

	first := New(cfg, store, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = first.Run(ctx); close(done) }()
	first.Send("segment.closed", nil)
	first.Send("recording.stopped", nil)
	deadline := time.Now().Add(10 * time.Second)
	for first.Stats().Failures < 3 {
		require.True(t, time.Now().Before(deadline))
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done

	mu.Lock()
	up = true
	mu.Unlock()
	second := New(cfg, store, slog.New(slog.DiscardHandler))
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { _ = second.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "events of the first run were not delivered")
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	require.Equal(t, []string{"segment.closed", "recording.stopped"}, got)
	mu.Unlock()
	for second.Stats().Delivered < 2 {
		require.True(t, time.Now().Before(deadline), "deliveries not counted")
		time.Sleep(5 * time.Millisecond)
	}
	keys, _, _ := store.Pending(recv.URL)
	require.Empty(t, keys, "delivered events are forgotten")
}
