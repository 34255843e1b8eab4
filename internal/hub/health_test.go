package hub

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// synthVideo writes a synthetic video track in (fake) real time: perFrame packets of 1000 bytes
// a frame, a keyframe every keyEvery frames, and every dropEvery-th packet never sent.
type synthVideo struct {
	t         *testing.T
	s         *Stream
	clk       *fakeClock
	seq       uint16
	frame     uint32
	perFrame  int
	keyEvery  int
	dropEvery int
	sent      int
}

func newSynthVideo(t *testing.T, s *Stream, clk *fakeClock) *synthVideo {
	t.Helper()
	return &synthVideo{t: t, s: s, clk: clk, perFrame: 3, keyEvery: 60}
}

// run sends d of video at fps frames per second.
func (v *synthVideo) run(d time.Duration, fps int) {
	step := time.Second / time.Duration(fps)
	for elapsed := time.Duration(0); elapsed < d; elapsed += step {
		for i := range v.perFrame {
			v.seq++
			v.sent++
			if v.dropEvery > 0 && v.sent%v.dropEvery == 0 {
				continue
			}
			v.s.Write(&media.Packet{
				RTP: &rtp.Packet{Header: rtp.Header{SequenceNumber: v.seq, Timestamp: v.frame * 3000,
					Marker: i == v.perFrame-1}, Payload: make([]byte, 1000)},
				Kind:          media.KindVideo,
				KeyframeStart: i == 0 && int(v.frame)%v.keyEvery == 0,
				Arrival:       v.clk.now(),
			})
		}
		v.frame++
		v.clk.advance(step)
	}
}

func videoRecent(t *testing.T, s *Stream) Recent {
	t.Helper()
	snap := s.Snapshot()
	require.NotNil(t, snap.Video)
	return snap.Video.Recent
}

func TestRecentSteadyStream(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	v := newSynthVideo(t, s, clk)
	v.run(20*time.Second, 30)

	r := videoRecent(t, s)
	require.GreaterOrEqual(t, r.Window, 3*time.Second)
	require.Less(t, r.Window, 4*time.Second)
	require.InDelta(t, 30, r.FPS, 1)
	require.InDelta(t, 30*3*1000*8, r.Bitrate, 30*1000*8)
	require.InDelta(t, 30, r.MedianFPS, 0.1)
	require.InDelta(t, 30*3*1000*8, r.MedianBitrate, 1)
	require.Equal(t, 16, r.BaselineSeconds, "20 s less the window (3 s) and the first second")
	require.Zero(t, r.Lost)
	require.InDelta(t, r.Window.Seconds()*90, float64(r.Expected), 6)
	require.True(t, r.GapSinceKeyframe.IsZero())
	require.False(t, r.LastKeyframe.IsZero())

	// A minute later the baseline is capped.
	v.run(60*time.Second, 30)
	require.Equal(t, baselineSeconds, videoRecent(t, s).BaselineSeconds)
}

func TestRecentYoungStream(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	require.Zero(t, videoRecent(t, s), "nothing before the first packet")
	newSynthVideo(t, s, clk).run(time.Second, 30)
	r := videoRecent(t, s)
	require.InDelta(t, time.Second, r.Window, float64(50*time.Millisecond))
	require.InDelta(t, 30, r.FPS, 1.5)
	require.Zero(t, r.BaselineSeconds)
}

func TestRecentLossIsWindowed(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	v := newSynthVideo(t, s, clk)
	v.run(10*time.Second, 30)
	v.dropEvery = 10
	v.run(5*time.Second, 30)
	r := videoRecent(t, s)
	require.InDelta(t, 0.10, r.LossRatio(), 0.01)
	require.False(t, r.GapSinceKeyframe.IsZero())

	// Loss ends: within one window it is gone from the figures, though the total remains.
	v.dropEvery = 0
	v.run(5*time.Second, 30)
	r = videoRecent(t, s)
	require.Zero(t, r.Lost)
	require.Positive(t, s.Snapshot().Video.Lost)
}

func TestRecentRetransmissionIsNotLoss(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	v := newSynthVideo(t, s, clk)
	v.run(5*time.Second, 30)
	late := v.seq + 2
	v.dropEvery = 0
	v.seq++ // this packet comes late
	v.run(time.Second, 30)
	require.EqualValues(t, 1, videoRecent(t, s).Lost)
	s.Write(&media.Packet{RTP: &rtp.Packet{Header: rtp.Header{SequenceNumber: late - 1}, Payload: []byte{1}},
		Kind: media.KindVideo, Arrival: clk.now()})
	require.Zero(t, videoRecent(t, s).Lost)
}

func TestRecentCollapseAgainstMedian(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	v := newSynthVideo(t, s, clk)
	v.run(20*time.Second, 30)
	v.run(4*time.Second, 5)
	r := videoRecent(t, s)
	require.InDelta(t, 5, r.FPS, 1)
	require.InDelta(t, 30, r.MedianFPS, 0.1, "the baseline is the seconds before the window")

	// A publisher that stops sending: the window empties, nothing rolls the seconds.
	clk.advance(5 * time.Second)
	r = videoRecent(t, s)
	require.Zero(t, r.FPS)
	require.Zero(t, r.Bitrate)
	require.Positive(t, r.MedianFPS)
}

func TestRecentHealthWindowIsConfigurable(t *testing.T) {
	h, clk := newTestHub(t, Config{HealthWindow: 10 * time.Second})
	s, _ := newVideoStream(t, h)
	newSynthVideo(t, s, clk).run(30*time.Second, 30)
	r := videoRecent(t, s)
	require.GreaterOrEqual(t, r.Window, 10*time.Second)
	require.Equal(t, 19, r.BaselineSeconds)

	h2 := New(Config{HealthWindow: time.Hour})
	require.Equal(t, MaxHealthWindow, h2.cfg.HealthWindow)
}

func TestLastDropIsRecorded(t *testing.T) {
	h, clk := newTestHub(t, Config{QueuePackets: 16})
	s, _ := newVideoStream(t, h)
	sub, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()
	v := newSynthVideo(t, s, clk)
	v.run(100*time.Millisecond, 30) // 9 packets: queued
	require.True(t, s.Snapshot().LastDrop.IsZero())
	v.run(time.Second, 30)
	snap := s.Snapshot()
	require.Positive(t, snap.SubscriberDrops)
	require.Equal(t, clk.now().Add(-time.Second/30), snap.LastDrop, "the time of the last dropped packet")
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, median(tc.in)) })
	}
}
