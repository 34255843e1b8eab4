package recorder

import (
	"bytes"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
)

// avPacket is one packet of a synthetic publisher, before impairment.
type avPacket struct {
	track int // 0 video, 1 audio
	index int // within its track
	pkt   *media.Packet
}

// opusTrack is the audio track of the synthetic publisher.
func opusTrack() hub.TrackInfo {
	return hub.TrackInfo{Kind: media.KindAudio, Codec: media.Opus, ClockRate: 48000, Channels: 2}
}

// avStream plays the H.264 clip (looped) and a 20 ms Opus packet stream for the given time,
// with arrival times in step with the RTP clocks: what a publisher on a perfect network sends.
func avStream(t *testing.T, clip *rtpClip, length time.Duration) []avPacket {
	t.Helper()
	f := newFeeder(clip)
	var out []avPacket
	for i := 0; ; i++ {
		p := f.next(i)
		if p.Arrival.Sub(f.t0) >= length {
			break
		}
		hdr := p.RTP.Header.Clone()
		out = append(out, avPacket{track: 0, index: i, pkt: &media.Packet{RTP: &rtp.Packet{Header: hdr, Payload: p.RTP.Payload},
			Kind: media.KindVideo, Arrival: p.Arrival, KeyframeStart: media.IsKeyframeStart(media.H264, p.RTP.Payload)}})
	}
	for i := 0; time.Duration(i)*20*time.Millisecond < length; i++ {
		hdr := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(40000 + i), Timestamp: uint32(7000 + 960*i),
			SSRC: 0xa0d10, Marker: i == 0}
		out = append(out, avPacket{track: 1, index: i, pkt: &media.Packet{RTP: &rtp.Packet{Header: hdr,
			Payload: []byte{0xfc, 0xff, 0xfe, byte(i)}}, Track: 1, Kind: media.KindAudio,
			Arrival: f.t0.Add(time.Duration(i) * 20 * time.Millisecond)}})
	}
	slices.SortStableFunc(out, func(a, b avPacket) int { return a.pkt.Arrival.Compare(b.pkt.Arrival) })
	return out
}

// recordPackets records packets (already impaired) through a hub stream into files, and returns
// the closed segments and the recording's final status.
func recordPackets(t *testing.T, clip *rtpClip, packets []avPacket, log *slog.Logger) ([]SegmentInfo, Status) {
	t.Helper()
	h := hub.New(hub.Config{QueuePackets: 1 << 16})
	st, err := h.Create("lossy", quietSource{})
	require.NoError(t, err)
	st.SetTracks([]hub.TrackInfo{clip.info, opusTrack()})
	events := &closedSegments{}
	m := NewManager(Config{Formats: Formats{}, FragmentDuration: time.Second}, h, dirSink{t.TempDir()}, events, log)
	status, err := m.Start("lossy", Options{Formats: Formats{}})
	require.NoError(t, err)
	for st.Snapshot().Subscribers == 0 { // the recording subscribes from its goroutine
		time.Sleep(time.Millisecond)
	}
	for _, p := range packets {
		st.Write(p.pkt)
	}
	st.Close()
	require.Eventually(t, func() bool {
		s, err := m.Get(status.ID)
		return err == nil && s.State == StateStopped
	}, 20*time.Second, 10*time.Millisecond)
	s, err := m.Get(status.ID)
	require.NoError(t, err)
	return events.list(), s
}

// logBuffer collects a recording's log lines for checks on what it said.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// TestLossNeverCutsTheRecording: packets lost for good, on either track, late retransmissions and
// arrivals in bursts after a stall are what networks do; none of them may start a new segment.
func TestLossNeverCutsTheRecording(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	for _, tc := range []struct {
		name   string
		impair func([]avPacket) []avPacket
	}{
		{"one audio packet lost for good", func(in []avPacket) []avPacket {
			return slices.DeleteFunc(in, func(p avPacket) bool { return p.track == 1 && p.index == 100 })
		}},
		{"one video packet lost for good", func(in []avPacket) []avPacket {
			return slices.DeleteFunc(in, func(p avPacket) bool { return p.track == 0 && p.index == 300 })
		}},
		{"every 20th packet lost for good", func(in []avPacket) []avPacket {
			return slices.DeleteFunc(in, func(p avPacket) bool { return p.index%20 == 19 })
		}},
		{"late retransmissions", func(in []avPacket) []avPacket {
			// Every 10th packet comes 150 ms late (after a NACK), behind newer ones.
			for _, p := range in {
				if p.index%10 == 5 {
					p.pkt.Arrival = p.pkt.Arrival.Add(150 * time.Millisecond)
				}
			}
			slices.SortStableFunc(in, func(a, b avPacket) int { return a.pkt.Arrival.Compare(b.pkt.Arrival) })
			return in
		}},
		{"a 2.5 s stall, then a burst", func(in []avPacket) []avPacket {
			t0 := in[0].pkt.Arrival
			for _, p := range in {
				if at := p.pkt.Arrival.Sub(t0); at >= 3*time.Second && at < 5500*time.Millisecond {
					p.pkt.Arrival = t0.Add(5500*time.Millisecond + at/1000)
				}
			}
			slices.SortStableFunc(in, func(a, b avPacket) int { return a.pkt.Arrival.Compare(b.pkt.Arrival) })
			return in
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			segs, status := recordPackets(t, clip, tc.impair(avStream(t, clip, 14*time.Second)), logs.logger())
			require.Len(t, segs, 1, "log:\n%s", logs.String())
			require.NoError(t, segs[0].Err)
			require.InDelta(t, 14, segs[0].Duration.Seconds(), 0.15)
			require.Empty(t, status.Error)
			require.NotContains(t, logs.String(), "new segment")
		})
	}
}
