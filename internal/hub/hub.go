// Package hub is the registry of live streams. A Stream has one publisher and any number of
// subscribers (viewers, recorders); the publisher never waits for a subscriber: every subscriber has
// a bounded queue, and one that falls behind loses packets up to the next keyframe instead.
//
// hub imports only media. It never knows whether a publisher is a WHIP session or a pull, nor what
// a subscriber does with the packets.
package hub

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Errors the hub reports.
var (
	// ErrStreamExists means another publisher already holds the stream name.
	ErrStreamExists = errors.New("stream is already being published")
	// ErrInvalidName means the stream name breaks the naming rule.
	ErrInvalidName = errors.New("invalid stream name")
	// ErrStreamNotFound means no stream has that name or id.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrClosed is returned by a subscriber once its stream has ended and its queue is drained.
	ErrClosed = errors.New("stream closed")
)

// MaxNameLength is the longest stream name accepted.
const MaxNameLength = 128

// ValidateName checks a stream name: letters, digits, '.', '_' and '-', 1 to 128 characters, and
// not "." or "..", so a name can always be used as a file name inside a directory.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLength || strings.IndexFunc(name, notNameRune) >= 0 {
		return fmt.Errorf("%w %q: use 1 to %d letters, digits, '.', '_' or '-'", ErrInvalidName,
			truncate(name, 40), MaxNameLength)
	}
	// A leading '-' would read as an option to the hook script and to tools given the file
	// name; a leading '.' makes hidden files (and "." and "..").
	if name[0] == '-' || name[0] == '.' {
		return fmt.Errorf("%w %q: a name cannot start with '-' or '.'", ErrInvalidName, truncate(name, 40))
	}
	return nil
}

func notNameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '.' || r == '_' || r == '-')
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Config tunes every stream of a hub.
type Config struct {
	// QueuePackets is the capacity of each subscriber's queue, in RTP packets. Default 2048
	// (about five seconds of a 2.5 Mbps stream).
	QueuePackets int
	// KeyframeInterval is the shortest time between two keyframe requests sent to a publisher on
	// behalf of its subscribers. Default 500 ms.
	KeyframeInterval time.Duration
	// GOPCachePackets bounds the cached group of pictures that pre-rolls new recordings. Default
	// 4096 packets (8 s of a 2.5 Mbps stream).
	GOPCachePackets int
	// HealthWindow is the window of the Recent figures in snapshots (degraded-stream checks).
	// Default 3 s, at most MaxHealthWindow.
	HealthWindow time.Duration
}

func (c Config) withDefaults() Config {
	if c.QueuePackets <= 0 {
		c.QueuePackets = 2048
	}
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = 500 * time.Millisecond
	}
	if c.GOPCachePackets <= 0 {
		c.GOPCachePackets = 4096
	}
	if c.HealthWindow <= 0 {
		c.HealthWindow = 3 * time.Second
	}
	c.HealthWindow = min(c.HealthWindow, MaxHealthWindow)
	return c
}

// Hub holds the live streams by name.
type Hub struct {
	cfg     Config
	now     func() time.Time
	mu      sync.RWMutex
	streams map[string]*Stream
}

// New returns an empty hub.
func New(cfg Config) *Hub {
	return &Hub{cfg: cfg.withDefaults(), now: time.Now, streams: map[string]*Stream{}}
}

// Create registers a new stream under name for the publisher src. The stream is listed at once;
// the publisher then declares its tracks with SetTracks and writes packets.
func (h *Hub) Create(name string, src Source) (*Stream, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.streams[name]; ok {
		return nil, fmt.Errorf("%w: %s", ErrStreamExists, name)
	}
	s := newStream(h, name, uuid.NewString(), src)
	h.streams[name] = s
	return s, nil
}

// Get returns the stream published under name.
func (h *Hub) Get(name string) (*Stream, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if s, ok := h.streams[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrStreamNotFound, name)
}

// GetByID returns the stream whose media session id is id.
func (h *Hub) GetByID(id string) (*Stream, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.streams {
		if s.id == id {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: media session %s", ErrStreamNotFound, id)
}

// List returns the live streams sorted by name.
func (h *Hub) List() []*Stream {
	h.mu.RLock()
	out := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		out = append(out, s)
	}
	h.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Stream) int { return strings.Compare(a.name, b.name) })
	return out
}

// Len returns the number of live streams.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.streams)
}

func (h *Hub) remove(s *Stream) {
	h.mu.Lock()
	if h.streams[s.name] == s {
		delete(h.streams, s.name)
	}
	h.mu.Unlock()
}
