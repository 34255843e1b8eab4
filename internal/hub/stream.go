package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilrec/vigil/internal/media"
)

// Source is the publisher of a stream as the hub sees it. Both methods are called from API or
// subscriber goroutines and must return quickly without waiting on media.
type Source interface {
	// RequestKeyframe asks the publisher for a keyframe (an RTCP PLI for WebRTC publishers).
	RequestKeyframe()
	// Disconnect ends the publishing session; the source then calls Stream.Close. Idempotent.
	Disconnect()
}

// TrackInfo describes one track of a stream as negotiated with its publisher.
type TrackInfo struct {
	Kind        media.Kind
	Codec       media.Codec
	ClockRate   uint32
	Channels    uint16
	SDPFmtpLine string
}

// Stream is one published stream: its identity, its tracks, its subscribers and its live stats.
type Stream struct {
	hub     *Hub
	id      string
	name    string
	created time.Time
	src     Source

	mu      sync.Mutex // guards tracks, stats, reports, the GOP cache and the subscriber list writes
	tracks  []TrackInfo
	stats   []*trackStats
	reports []SenderReport
	gop     gopCache
	// prerolled counts the subscribers that started from the GOP cache and still read: while
	// one does, the cache is not kept (see Subscribe).
	prerolled int
	subs      atomic.Pointer[[]*Subscriber]

	plis, nacks    atomic.Uint64
	lastKeyRequest atomic.Int64 // unix nanos
	lastDrop       atomic.Int64 // unix nanos of the last packet a subscriber dropped
	closed         chan struct{}
	closeOnce      sync.Once
}

func newStream(h *Hub, name, id string, src Source) *Stream {
	s := &Stream{hub: h, id: id, name: name, created: h.now(), src: src, closed: make(chan struct{})}
	s.subs.Store(&[]*Subscriber{})
	return s
}

// ID is the stream's media session id, a UUID that changes each time the name is published.
func (s *Stream) ID() string { return s.id }

// Name is the stream name.
func (s *Stream) Name() string { return s.name }

// Created is when the publisher arrived.
func (s *Stream) Created() time.Time { return s.created }

// Done is closed when the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.closed }

// SetTracks declares the publisher's tracks. It is called once, before the first Write.
func (s *Stream) SetTracks(tracks []TrackInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracks = append([]TrackInfo(nil), tracks...)
	s.stats = make([]*trackStats, len(tracks))
	s.reports = make([]SenderReport, len(tracks))
	for i, t := range tracks {
		s.stats[i] = &trackStats{kind: t.Kind, codec: t.Codec}
	}
}

// SetTrack corrects one declared track once its media shows which of the negotiated codecs the
// publisher really uses. Counters are kept.
func (s *Stream) SetTrack(i int, t TrackInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= 0 && i < len(s.tracks) {
		s.tracks[i] = t
		s.stats[i].kind, s.stats[i].codec = t.Kind, t.Codec
	}
}

// Tracks returns the declared tracks.
func (s *Stream) Tracks() []TrackInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TrackInfo(nil), s.tracks...)
}

// Write hands one packet of track p.Track to every subscriber. It never blocks on a subscriber.
// Packets of one track come from one goroutine; different tracks may be written concurrently.
// The packet must not be modified afterwards.
//
// The fan-out runs under the stream's lock so that a subscriber joining with the cached group of
// pictures gets every packet exactly once; pushes are short and never wait on a reader.
func (s *Stream) Write(p *media.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Track < len(s.stats) {
		s.stats[p.Track].observe(p)
	}
	if s.prerolled == 0 {
		s.gop.add(p, s.hub.cfg.GOPCachePackets)
	}
	for _, sub := range *s.subs.Load() {
		sub.push(p)
	}
}

// SenderReport maps a track's RTP clock to wall-clock time, from the publisher's last RTCP sender
// report (RFC 3550 §6.4.1).
type SenderReport struct {
	NTPTime time.Time
	RTPTime uint32
	// Received is when the report arrived; zero when none has.
	Received time.Time
}

// SetSenderReport records a sender report of track i.
func (s *Stream) SetSenderReport(i int, sr SenderReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= 0 && i < len(s.reports) {
		s.reports[i] = sr
	}
}

// SenderReport returns the last sender report of track i; ok is false when none has arrived.
func (s *Stream) SenderReport(i int) (SenderReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.reports) || s.reports[i].Received.IsZero() {
		return SenderReport{}, false
	}
	return s.reports[i], true
}

// RequestKeyframe forwards a keyframe request to the publisher, at most once per the hub's
// keyframe interval however many subscribers ask.
func (s *Stream) RequestKeyframe() {
	now := s.hub.now().UnixNano()
	last := s.lastKeyRequest.Load()
	if now-last < int64(s.hub.cfg.KeyframeInterval) || !s.lastKeyRequest.CompareAndSwap(last, now) {
		return
	}
	s.src.RequestKeyframe()
}

// CountPLI and CountNACK record feedback the server sent to the publisher.
func (s *Stream) CountPLI() { s.plis.Add(1) }

// CountNACK records n packets the server asked the publisher to retransmit.
func (s *Stream) CountNACK(n uint64) { s.nacks.Add(n) }

// Disconnect asks the publisher to end the session.
func (s *Stream) Disconnect() { s.src.Disconnect() }

// Close ends the stream: it leaves the hub, and every subscriber reads what is queued and then
// ErrClosed. Only the publisher calls Close. Idempotent.
func (s *Stream) Close() {
	s.closeOnce.Do(func() {
		s.hub.remove(s)
		close(s.closed)
		s.mu.Lock()
		subs := *s.subs.Load()
		s.subs.Store(&[]*Subscriber{})
		s.mu.Unlock()
		for _, sub := range subs {
			sub.end()
		}
	})
}

// SubscribeOptions tunes one subscriber.
type SubscribeOptions struct {
	// StartAtKeyframe drops video until the first keyframe, so the subscriber's first video
	// packet can be decoded. A keyframe is requested from the publisher at once.
	StartAtKeyframe bool
	// FromLastKeyframe starts the subscriber with the group of pictures already received: the
	// last keyframe and everything (audio too) since. Without a cached keyframe it behaves like
	// StartAtKeyframe.
	FromLastKeyframe bool
	// Linger makes Read return at most once per this long, with everything queued meanwhile,
	// so a subscriber that need not react at once (a recorder) wakes a few times a second
	// instead of once per packet. Its waits end on multiples of Linger (wall clock), so that
	// subscribers with the same Linger wake together. The queue must hold one linger of
	// packets. 0: no wait.
	Linger time.Duration
}

// Subscribe adds a subscriber that receives every packet written from now on (and, with
// FromLastKeyframe, the cached group of pictures before them).
func (s *Stream) Subscribe(opts SubscribeOptions) (*Subscriber, error) {
	sub := newSubscriber(s, s.hub.cfg.QueuePackets, opts.StartAtKeyframe || opts.FromLastKeyframe)
	sub.linger = opts.Linger
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return nil, ErrClosed
	default:
	}
	if opts.FromLastKeyframe {
		for _, p := range s.gop.packets {
			sub.push(p)
		}
		// The cache exists to pre-roll a recording that starts. While one runs, another start
		// of the same stream is rare, and a group of pictures per recorded stream (about 1 MB
		// at 2.5 Mbps) is the largest memory cost of recording many streams: it is dropped
		// now and rebuilt from the next keyframe once no pre-rolled subscriber is left.
		s.prerolled++
		sub.prerolled = true
		s.gop.reset()
	}
	subs := append(append([]*Subscriber(nil), *s.subs.Load()...), sub)
	s.subs.Store(&subs)
	s.mu.Unlock()
	if opts.StartAtKeyframe || opts.FromLastKeyframe {
		s.RequestKeyframe()
	}
	return sub, nil
}

func (s *Stream) unsubscribe(sub *Subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub.prerolled {
		s.prerolled--
	}
	old := *s.subs.Load()
	subs := make([]*Subscriber, 0, len(old))
	for _, x := range old {
		if x != sub {
			subs = append(subs, x)
		}
	}
	s.subs.Store(&subs)
}

// Snapshot returns the stream's identity, tracks and live statistics.
func (s *Stream) Snapshot() Snapshot {
	now := s.hub.now()
	s.mu.Lock()
	snap := Snapshot{
		ID: s.id, Name: s.name, Created: s.created,
		Tracks: append([]TrackInfo(nil), s.tracks...),
		PLIs:   s.plis.Load(), NACKs: s.nacks.Load(),
	}
	for _, st := range s.stats {
		ts := st.snapshot(now)
		ts.Recent = st.recent(now, s.hub.cfg.HealthWindow)
		if st.kind == media.KindVideo && snap.Video == nil {
			snap.Video = &ts
		} else if st.kind == media.KindAudio && snap.Audio == nil {
			snap.Audio = &ts
		}
	}
	s.mu.Unlock()
	snap.LastDrop = s.lastDropTime()
	for _, sub := range *s.subs.Load() {
		snap.Subscribers++
		snap.SubscriberDrops += sub.Dropped()
	}
	return snap
}

// gopCache keeps the packets since the last video keyframe start, so that a new subscriber (a
// recorder) can begin at once with a decodable picture instead of waiting for the next keyframe.
type gopCache struct {
	packets []*media.Packet
	keyTS   uint32
	active  bool
}

func (g *gopCache) add(p *media.Packet, limit int) {
	if p.Kind == media.KindVideo && p.KeyframeStart && (!g.active || p.RTP.Timestamp != g.keyTS) {
		clear(g.packets) // subscribers hold their own copies of the pointers
		g.packets = append(g.packets[:0], p)
		g.keyTS, g.active = p.RTP.Timestamp, true
		return
	}
	if !g.active {
		return
	}
	if len(g.packets) >= limit {
		// A group of pictures too long to cache: start over at the next keyframe.
		g.reset()
		return
	}
	g.packets = append(g.packets, p)
}

// reset empties the cache (and lets go of its memory) until the next keyframe.
func (g *gopCache) reset() {
	g.packets, g.active = nil, false
}
