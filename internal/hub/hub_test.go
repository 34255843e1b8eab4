package hub

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigilrec/vigil/internal/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource counts what the hub asks of the publisher.
type fakeSource struct {
	keyframes   atomic.Int64
	disconnects atomic.Int64
}

func (f *fakeSource) RequestKeyframe() { f.keyframes.Add(1) }
func (f *fakeSource) Disconnect()      { f.disconnects.Add(1) }

var _ Source = (*fakeSource)(nil)

// fakeClock replaces the hub's clock so keyframe rate limits and per-second rates are exact.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestHub returns a hub whose clock only moves when the test advances it.
func newTestHub(t *testing.T, cfg Config) (*Hub, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	h := New(cfg)
	h.now = clk.now
	return h, clk
}

// newVideoStream creates a stream "cam" with one VP8 track and one Opus track.
func newVideoStream(t *testing.T, h *Hub) (*Stream, *fakeSource) {
	t.Helper()
	src := &fakeSource{}
	s, err := h.Create("cam", src)
	require.NoError(t, err)
	s.SetTracks([]TrackInfo{
		{Kind: media.KindVideo, Codec: media.VP8, ClockRate: 90000},
		{Kind: media.KindAudio, Codec: media.Opus, ClockRate: 48000, Channels: 2},
	})
	return s, src
}

func videoPacket(seq uint16, key bool) *media.Packet {
	return &media.Packet{
		RTP:           &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: []byte{0x00, 0x01}},
		Track:         0,
		Kind:          media.KindVideo,
		KeyframeStart: key,
	}
}

func audioPacket(seq uint16) *media.Packet {
	return &media.Packet{
		RTP:   &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: []byte{0xfc}},
		Track: 1,
		Kind:  media.KindAudio,
	}
}

// readAll reads until n packets have arrived and returns them in order.
func readAll(t *testing.T, sub *Subscriber, n int) []*media.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make([]*media.Packet, 0, n)
	buf := make([]*media.Packet, 4)
	for len(out) < n {
		k, err := sub.Read(ctx, buf[:min(len(buf), n-len(out))])
		require.NoError(t, err)
		out = append(out, buf[:k]...)
	}
	return out
}

func seqs(pkts []*media.Packet) []uint16 {
	out := make([]uint16, len(pkts))
	for i, p := range pkts {
		out[i] = p.RTP.SequenceNumber
	}
	return out
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		ok    bool
	}{
		{"simple", "cam1", true},
		{"all allowed runes", "Cam_1.main-HD", true},
		{"leading dot", ".hidden", false},
		{"three dots", "...", false},
		{"leading dash", "-rf", false},
		{"inner dot and dash", "a.b-c", true},
		{"128 chars", strings.Repeat("a", MaxNameLength), true},
		{"129 chars", strings.Repeat("a", MaxNameLength+1), false},
		{"empty", "", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"slash", "a/b", false},
		{"backslash", `a\b`, false},
		{"parent path", "../etc", false},
		{"space", "a b", false},
		{"leading space", " a", false},
		{"tab", "a\tb", false},
		{"non-ASCII letter", "café", false},
		{"NUL", "a\x00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateName(tc.input)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidName)
		})
	}
}

func TestValidateNameTruncatesLongNamesInError(t *testing.T) {
	err := ValidateName(strings.Repeat("x", 300) + "/")
	require.ErrorIs(t, err, ErrInvalidName)
	require.Less(t, len(err.Error()), 150)
	require.Contains(t, err.Error(), "…")
}

func TestCreateRejectsBadNameAndDuplicate(t *testing.T) {
	h := New(Config{})
	_, err := h.Create("a/b", &fakeSource{})
	require.ErrorIs(t, err, ErrInvalidName)
	require.Zero(t, h.Len())

	first, err := h.Create("cam", &fakeSource{})
	require.NoError(t, err)
	_, err = h.Create("cam", &fakeSource{})
	require.ErrorIs(t, err, ErrStreamExists)
	require.ErrorContains(t, err, "cam")

	got, err := h.Get("cam")
	require.NoError(t, err)
	require.Same(t, first, got)
}

func TestRegistry(t *testing.T) {
	h := New(Config{})
	src := &fakeSource{}
	b, err := h.Create("b", src)
	require.NoError(t, err)
	a, err := h.Create("a", &fakeSource{})
	require.NoError(t, err)
	c, err := h.Create("c", &fakeSource{})
	require.NoError(t, err)

	require.Equal(t, 3, h.Len())
	require.Equal(t, []*Stream{a, b, c}, h.List())
	require.Equal(t, "b", b.Name())
	require.NotEqual(t, a.ID(), b.ID())

	got, err := h.Get("b")
	require.NoError(t, err)
	require.Same(t, b, got)
	got, err = h.GetByID(b.ID())
	require.NoError(t, err)
	require.Same(t, b, got)

	_, err = h.Get("nope")
	require.ErrorIs(t, err, ErrStreamNotFound)
	_, err = h.GetByID("00000000-0000-0000-0000-000000000000")
	require.ErrorIs(t, err, ErrStreamNotFound)

	b.Disconnect()
	require.EqualValues(t, 1, src.disconnects.Load(), "Disconnect reaches the publisher")

	b.Close()
	b.Close() // idempotent
	select {
	case <-b.Done():
	default:
		require.FailNow(t, "Done is not closed after Close")
	}
	require.Equal(t, 2, h.Len())
	require.Equal(t, []*Stream{a, c}, h.List())
	_, err = h.Get("b")
	require.ErrorIs(t, err, ErrStreamNotFound)
	_, err = h.GetByID(b.ID())
	require.ErrorIs(t, err, ErrStreamNotFound)

	// The name is free again, under a new media session id; closing the old stream once more
	// must not remove the new one.
	b2, err := h.Create("b", &fakeSource{})
	require.NoError(t, err)
	require.NotEqual(t, b.ID(), b2.ID())
	b.Close()
	got, err = h.Get("b")
	require.NoError(t, err)
	require.Same(t, b2, got)

	for _, s := range h.List() {
		s.Close()
	}
	require.Zero(t, h.Len())
}
