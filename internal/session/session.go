// Package session keeps the live WebRTC sessions of a manager (WHIP publishers, WHEP viewers):
// their ids, the one end each may be asked for, the signal that their peer connected, the
// goroutine each one runs, and the refusal of new sessions once the server is stopping. What a
// session does with its peer connection stays with its own package; session never imports hub
// or api.
package session

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/pion/webrtc/v4"
)

// ErrShuttingDown means the server is stopping and takes no new sessions (nor pulls).
var ErrShuttingDown = errors.New("server is shutting down")

// Life is one session's lifetime. Anyone may ask it to end (pion callbacks, the API, shutdown);
// its run goroutine, started by Manager.Start, waits for that and tears the session down.
type Life struct {
	id     string
	stream string

	endOnce   sync.Once
	reason    string        // why the session ends; written once, before ending is closed
	ending    chan struct{} // closed to ask run to tear down
	done      chan struct{} // closed once torn down
	connOnce  sync.Once
	connected chan struct{}
}

// NewLife returns the lifetime of a new session of stream, with a fresh random id.
func NewLife(stream string) *Life {
	return &Life{
		id: uuid.NewString(), stream: stream,
		ending: make(chan struct{}), done: make(chan struct{}), connected: make(chan struct{}),
	}
}

// ID is the session id, the last segment of its WHIP or WHEP resource URL.
func (l *Life) ID() string { return l.id }

// Stream is the name of the stream the session publishes or plays.
func (l *Life) Stream() string { return l.stream }

// End asks the session to end; only the first call (of End or EndBecause) counts. It never
// blocks, so pion callbacks may call it.
func (l *Life) End() { l.EndBecause("ended") }

// EndBecause is End, telling why: Reason reports the first reason given.
func (l *Life) EndBecause(reason string) {
	l.endOnce.Do(func() {
		l.reason = reason
		close(l.ending)
	})
}

// Ending is closed once End is called.
func (l *Life) Ending() <-chan struct{} { return l.ending }

// Reason is why the session ends; empty until Ending is closed.
func (l *Life) Reason() string {
	select {
	case <-l.ending:
		return l.reason
	default:
		return ""
	}
}

// Done is closed once the session is torn down and forgotten by its manager.
func (l *Life) Done() <-chan struct{} { return l.done }

// Connected is closed once the peer connection reaches the connected state.
func (l *Life) Connected() <-chan struct{} { return l.connected }

// IsConnected reports whether the peer connection has connected.
func (l *Life) IsConnected() bool {
	select {
	case <-l.connected:
		return true
	default:
		return false
	}
}

// Watch ties the session to pc's state: connected closes Connected, failed or closed ends it.
func (l *Life) Watch(pc *webrtc.PeerConnection) {
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			l.connOnce.Do(func() { close(l.connected) })
		case webrtc.PeerConnectionStateFailed:
			l.EndBecause("connection failed")
		case webrtc.PeerConnectionStateClosed:
			l.EndBecause("connection closed")
		}
	})
}

// Stop ends the session ("stopped") and waits until it is torn down or ctx ends.
func (l *Life) Stop(ctx context.Context) error {
	l.EndBecause("stopped")
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Manager tracks the sessions of one kind and the goroutine of each. The zero value is not
// usable: call NewManager.
type Manager struct {
	mu       sync.Mutex
	sessions map[string]*Life
	closed   bool
	wg       sync.WaitGroup
}

// NewManager returns a manager without sessions.
func NewManager() *Manager {
	return &Manager{sessions: map[string]*Life{}}
}

// Start registers l, runs run as its goroutine and then negotiate, whose answer it returns. When
// run returns, l is forgotten and Done is closed. reserve, when not nil, runs first under the
// manager's lock, so that what it takes (a stream name in the hub) is never taken once Run has
// begun ending sessions; its error is returned and nothing is started. A failed negotiation ends
// the session and returns once it is torn down. Errors: ErrShuttingDown, reserve's, negotiate's.
func (m *Manager) Start(l *Life, reserve func() error, run func(), negotiate func() (string, error)) (string, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", ErrShuttingDown
	}
	if reserve != nil {
		if err := reserve(); err != nil {
			m.mu.Unlock()
			return "", err
		}
	}
	m.sessions[l.id] = l
	m.wg.Add(1)
	m.mu.Unlock()

	go func() {
		defer m.wg.Done()
		defer close(l.done)
		defer m.forget(l)
		run()
	}()
	answer, err := negotiate()
	if err != nil {
		l.EndBecause("negotiation failed")
		<-l.done
		return "", err
	}
	return answer, nil
}

// Stop ends session id of stream and waits until it is torn down or ctx ends. An unknown id, or
// one of another stream, is notFound (wrapped).
func (m *Manager) Stop(ctx context.Context, stream, id string, notFound error) error {
	l, ok := m.Lookup(stream, id)
	if !ok {
		return fmt.Errorf("%w: %s/%s", notFound, stream, id)
	}
	return l.Stop(ctx)
}

// Lookup returns session id when it belongs to stream.
func (m *Manager) Lookup(stream, id string) (*Life, bool) {
	m.mu.Lock()
	l, ok := m.sessions[id]
	m.mu.Unlock()
	if !ok || l.stream != stream {
		return nil, false
	}
	return l, true
}

// Count returns the number of sessions.
func (m *Manager) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// CountFor returns the number of sessions of stream.
func (m *Manager) CountFor(stream string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, l := range m.sessions {
		if l.stream == stream {
			n++
		}
	}
	return n
}

// Run blocks until ctx ends, then refuses new sessions, ends every session and waits for their
// goroutines.
func (m *Manager) Run(ctx context.Context) error {
	<-ctx.Done()
	m.mu.Lock()
	m.closed = true
	for _, l := range m.sessions {
		l.EndBecause("server shutting down")
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

func (m *Manager) forget(l *Life) {
	m.mu.Lock()
	delete(m.sessions, l.id)
	m.mu.Unlock()
}
