package recorder

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
)

type closedSegments struct {
	mu     sync.Mutex
	closed []SegmentInfo
}

func (e *closedSegments) SegmentOpened(SegmentInfo) {}

func (e *closedSegments) SegmentClosed(info SegmentInfo) {
	e.mu.Lock()
	e.closed = append(e.closed, info)
	e.mu.Unlock()
}

func (e *closedSegments) list() []SegmentInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]SegmentInfo(nil), e.closed...)
}

// A stream whose packets switch to a new SSRC (a pull that reconnected) is recorded as a new
// segment of the same recording, even when its sequence numbers and timestamps continue and no
// timestamp jump gives it away; the frame the old source left incomplete is not written.
func TestNewSourceStartsNewSegment(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	h := hub.New(hub.Config{QueuePackets: 8192})
	st, err := h.Create("pulled", quietSource{})
	require.NoError(t, err)
	st.SetTracks([]hub.TrackInfo{clip.info})
	events := &closedSegments{}
	m := NewManager(Config{Formats: Formats{}, FragmentDuration: time.Second}, h, dirSink{t.TempDir()}, events,
		discardLogger())
	status, err := m.Start("pulled", Options{Formats: Formats{}})
	require.NoError(t, err)
	// The recording subscribes from its goroutine.
	testutil.WaitFor(t, "the recording to subscribe", 10*time.Second, func() bool { return st.Snapshot().Subscribers > 0 })

	f := newFeeder(clip)
	n := len(clip.packets)
	write := func(i int, ssrc uint32, pause time.Duration) {
		p := f.next(i)
		hdr := p.RTP.Header.Clone()
		hdr.SSRC = ssrc
		hdr.Timestamp += uint32(pause.Seconds() * 90000)
		st.Write(&media.Packet{RTP: &rtp.Packet{Header: hdr, Payload: p.RTP.Payload}, Kind: media.KindVideo,
			KeyframeStart: media.IsKeyframeStart(media.H264, p.RTP.Payload), Arrival: p.Arrival.Add(pause)})
	}
	// Four seconds from the first source, its last frame cut short; then, after a 6 s pause, four
	// seconds from the second, numbered on from the first.
	cut := n - 2
	for i := range cut {
		write(i, 0x1111, 0)
	}
	for i := cut; i < cut+n; i++ {
		write(i, 0x2222, 6*time.Second)
	}
	st.Close()
	require.Eventually(t, func() bool {
		s, err := m.Get(status.ID)
		return err == nil && s.State == StateStopped
	}, 10*time.Second, 10*time.Millisecond)

	segs := events.list()
	require.Len(t, segs, 2)
	for _, seg := range segs {
		require.NoError(t, seg.Err)
		require.NotEmpty(t, seg.Path)
		require.Equal(t, status.ID, seg.RecordingID)
		require.InDelta(t, 4, seg.Duration.Seconds(), 0.2, "segment %d", seg.Index)
	}
	require.Equal(t, []int{1, 2}, []int{segs[0].Index, segs[1].Index})
	require.GreaterOrEqual(t, segs[1].Start.Sub(segs[0].End), 5*time.Second, "the pause is between the files")
	s, err := m.Get(status.ID)
	require.NoError(t, err)
	require.Empty(t, s.Error)
	require.Equal(t, 2, s.Segments)
}

// A recording that starts with its stream (automatic) sees the tracks as first declared; a
// publisher that turns out to send VP8 where H.264 was declared first corrects its track before
// the first packet, and the recording takes the correction: one VP8 segment in WebM.
func TestTrackCorrectedBeforeFirstPacket(t *testing.T) {
	clip := packetizeClip(t, media.VP8, "240p-vp8.ivf")
	h := hub.New(hub.Config{QueuePackets: 8192})
	st, err := h.Create("vp8", quietSource{})
	require.NoError(t, err)
	st.SetTracks([]hub.TrackInfo{{Kind: media.KindVideo, Codec: media.H264, ClockRate: 90000}})
	events := &closedSegments{}
	m := NewManager(Config{Formats: Formats{}, FragmentDuration: time.Second}, h, dirSink{t.TempDir()}, events,
		discardLogger())
	status, err := m.Start("vp8", Options{Formats: Formats{}})
	require.NoError(t, err)
	// The recording subscribes from its goroutine.
	testutil.WaitFor(t, "the recording to subscribe", 10*time.Second, func() bool { return st.Snapshot().Subscribers > 0 })
	st.SetTrack(0, clip.info)
	f := newFeeder(clip)
	for i := range len(clip.packets) {
		p := f.next(i)
		st.Write(&media.Packet{RTP: &rtp.Packet{Header: p.RTP.Header.Clone(), Payload: p.RTP.Payload}, Kind: media.KindVideo,
			KeyframeStart: media.IsKeyframeStart(media.VP8, p.RTP.Payload), Arrival: p.Arrival})
	}
	st.Close()
	require.Eventually(t, func() bool {
		s, err := m.Get(status.ID)
		return err == nil && s.State == StateStopped
	}, 10*time.Second, 10*time.Millisecond)
	segs := events.list()
	require.Len(t, segs, 1)
	require.Equal(t, WebM, segs[0].Container)
	require.Equal(t, "vp8", segs[0].VideoCodec)
	require.InDelta(t, 4, segs[0].Duration.Seconds(), 0.1)
}
