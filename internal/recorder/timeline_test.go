package recorder

import (
	"bytes"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
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
func recordPackets(t *testing.T, clip *rtpClip, packets []avPacket, log *slog.Logger, opts ...Options) ([]SegmentInfo, Status) {
	t.Helper()
	h := hub.New(hub.Config{QueuePackets: 1 << 16})
	st, err := h.Create("lossy", quietSource{})
	require.NoError(t, err)
	st.SetTracks([]hub.TrackInfo{clip.info, opusTrack()})
	events := &closedSegments{}
	m := NewManager(Config{Formats: Formats{}, FragmentDuration: time.Second}, h, dirSink{t.TempDir()}, events, log)
	opt := Options{Formats: Formats{}}
	if len(opts) > 0 {
		opt = opts[0]
	}
	status, err := m.Start("lossy", opt)
	require.NoError(t, err)
	// The recording subscribes from its goroutine.
	testutil.WaitFor(t, "the recording to subscribe", 10*time.Second, func() bool { return st.Snapshot().Subscribers > 0 })
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
		{"a sender clock 0.5 % fast", func(in []avPacket) []avPacket {
			t0 := in[0].pkt.Arrival
			for _, p := range in {
				p.pkt.Arrival = t0.Add(p.pkt.Arrival.Sub(t0) * 995 / 1000)
			}
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

// TestDiscontinuitiesStartNewSegments: an encoder restart (sequence numbers and timestamps jump)
// and a 5 s stall each start a new segment, with the reason logged.
func TestDiscontinuitiesStartNewSegments(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	for _, tc := range []struct {
		name   string
		impair func([]avPacket) []avPacket
		reason string
		breaks uint64 // tracks whose timeline broke
	}{
		{"encoder restart", func(in []avPacket) []avPacket {
			// From 5 s on, both tracks come from a restarted encoder: new sequence numbers and
			// timestamps, arriving on time.
			t0 := in[0].pkt.Arrival
			for _, p := range in {
				if p.pkt.Arrival.Sub(t0) >= 5*time.Second {
					p.pkt.RTP.SequenceNumber += 20000
					p.pkt.RTP.Timestamp += 0x40000000
				}
			}
			return in
		}, "rtp timestamps jumped", 2},
		{"5 s stall", func(in []avPacket) []avPacket {
			// Nothing is sent from 5 s to 10 s; sequence numbers go on where they stopped.
			t0 := in[0].pkt.Arrival
			var out []avPacket
			skipped := [2]uint16{}
			for _, p := range in {
				at := p.pkt.Arrival.Sub(t0)
				if at >= 5*time.Second && at < 10*time.Second {
					skipped[p.track]++
					continue
				}
				p.pkt.RTP.SequenceNumber -= skipped[p.track]
				out = append(out, p)
			}
			return out
		}, "stall: no media for 5", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			segs, status := recordPackets(t, clip, tc.impair(avStream(t, clip, 14*time.Second)), logs.logger())
			require.Len(t, segs, 2, "log:\n%s", logs.String())
			require.Contains(t, logs.String(), "starting a new segment")
			require.Contains(t, logs.String(), tc.reason)
			require.Equal(t, tc.breaks, status.Loss.Discontinuities)
			require.Zero(t, status.Loss.FramesDropped)
			require.InDelta(t, 5, segs[0].Duration.Seconds(), 0.15)
		})
	}
}

// TestRetransmissionFillsHole: a packet that comes back 100 ms late (a NACK answer) completes
// its frame, which is written whole; one that never comes drops its frame, and video skips to the
// next keyframe, which is requested; a duplicate changes nothing.
func TestRetransmissionFillsHole(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	const late = 40 // a packet inside an inter frame
	lost := slices.Index(clip.ticks, clipKeyEvery*clipFrameTicks) + 2
	require.Equal(t, uint32(clipKeyEvery*clipFrameTicks), clip.ticks[lost], "the lost packet is inside a keyframe")
	f := newFeeder(clip)
	r, c := newCollected(clip.info)
	var delayed *media.Packet
	for i := range 2 * len(clip.packets) {
		p := f.next(i)
		pkt := &media.Packet{RTP: &rtp.Packet{Header: p.RTP.Header.Clone(), Payload: p.RTP.Payload}, Arrival: p.Arrival}
		switch i {
		case late:
			delayed = pkt
			continue
		case lost:
			continue
		case 77:
			require.NoError(t, r.push(pkt))
		}
		if delayed != nil && pkt.Arrival.Sub(delayed.Arrival) >= 100*time.Millisecond {
			delayed.Arrival = pkt.Arrival
			require.NoError(t, r.push(delayed))
			delayed = nil
		}
		require.NoError(t, r.push(pkt))
	}
	require.NoError(t, r.flush())
	loss := c.stats.snapshot()
	require.Equal(t, uint64(1), loss.HolesFilled)
	require.Equal(t, uint64(1), loss.FramesRecovered)
	require.Equal(t, uint64(1), loss.PacketsLost)
	require.Equal(t, uint64(1), loss.Duplicates)
	require.Equal(t, uint64(1), loss.FramesDropped)
	require.Equal(t, uint64(1), loss.KeyframeWaits)
	require.Positive(t, c.keyRequests)
	lostFrame := int(clip.ticks[lost] / clipFrameTicks)
	nextKey := (lostFrame/clipKeyEvery + 1) * clipKeyEvery
	require.Equal(t, uint64(nextKey-lostFrame-1), loss.FramesSkipped)
	require.Equal(t, time.Duration(nextKey-lostFrame)*time.Second/30, loss.LongestSkip)
	require.Len(t, c.aus, 2*clipFrames-(nextKey-lostFrame))
	for i, au := range c.aus {
		frame := i
		if frame >= lostFrame {
			frame += nextKey - lostFrame
		}
		require.Equal(t, int64(clip.ts0)+int64(frame)*clipFrameTicks, au.rtp64, "access unit %d", i)
		require.Equal(t, frame%clipKeyEvery == 0, au.key, "access unit %d", i)
	}
}

// BenchmarkTrackReader is the depacketizing path alone, one RTP packet per op: 1080p H.264 at
// 2.5 Mbps through reordering and reassembly.
func BenchmarkTrackReader(b *testing.B) {
	clip := packetizeClip(b, media.H264, "1080p-h264.h264")
	var sink discardSink
	r := newTrackReader(0, clip.info, true, &sink, &lossStats{})
	f := newFeeder(clip)
	b.SetBytes(int64(clip.payload / len(clip.packets)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := r.push(f.next(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if b.N > 2*len(clip.packets) {
		require.Positive(b, sink.aus)
	}
}

// discardSink counts access units and keeps nothing.
type discardSink struct{ aus int }

func (d *discardSink) accessUnit(*accessUnit) error    { d.aus++; return nil }
func (d *discardSink) discontinuity(int, string) error { return nil }
func (d *discardSink) keyframeNeeded()                 {}

// TestRotationWithLateKeyframes: when every keyframe but the first arrives 150 ms late (a packet of it was
// retransmitted), the audio that arrived meanwhile still goes to the side of the cut its time
// belongs to: segments follow each other without gap or overlap beyond one frame.
func TestRotationWithLateKeyframes(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	in := avStream(t, clip, 13*time.Second)
	for _, p := range in {
		if p.track == 0 && p.index >= len(clip.packets) && clip.ticks[p.index%len(clip.packets)]%(clipKeyEvery*clipFrameTicks) == 0 {
			p.pkt.Arrival = p.pkt.Arrival.Add(150 * time.Millisecond)
		}
	}
	slices.SortStableFunc(in, func(a, b avPacket) int { return a.pkt.Arrival.Compare(b.pkt.Arrival) })
	segs, _ := recordPackets(t, clip, in, discardLogger(), Options{Formats: Formats{}, Rotation: Rotation{Duration: 2 * time.Second}})
	require.GreaterOrEqual(t, len(segs), 5)
	for i := 1; i < len(segs); i++ {
		gap := segs[i].Start.Sub(segs[i-1].End)
		require.Less(t, gap.Abs(), 40*time.Millisecond, "gap or overlap between segments %d and %d", i, i+1)
	}
}

// BenchmarkTrackReaderReordered is BenchmarkTrackReader with one packet in 50 overtaken by the
// three after it (a retransmission filling its hole): the buffered path, which copies into
// reused slots.
func BenchmarkTrackReaderReordered(b *testing.B) {
	clip := packetizeClip(b, media.H264, "1080p-h264.h264")
	var sink discardSink
	r := newTrackReader(0, clip.info, true, &sink, &lossStats{})
	f := newFeeder(clip)
	pkts := make([]media.Packet, 4)
	hdrs := make([]rtp.Packet, 4)
	b.SetBytes(int64(clip.payload / len(clip.packets)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 4 {
		for k := range pkts {
			pkts[k] = *f.next(i + k)
			hdrs[k] = *pkts[k].RTP
			pkts[k].RTP = &hdrs[k]
		}
		order := [4]int{0, 1, 2, 3}
		if i%48 == 0 {
			order = [4]int{1, 2, 3, 0}
		}
		for _, k := range order {
			if err := r.push(&pkts[k]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestAudioWaitsForLateFirstKeyframe: the first keyframe completes 200 ms late (one of its
// packets is retransmitted); the audio that arrived meanwhile is in the file from its start, so
// audio and video start together.
func TestAudioWaitsForLateFirstKeyframe(t *testing.T) {
	testutil.NeedFFmpeg(t)
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	in := avStream(t, clip, 4*time.Second)
	for _, p := range in {
		if p.track == 0 && p.index == 1 {
			p.pkt.Arrival = p.pkt.Arrival.Add(200 * time.Millisecond)
		}
	}
	slices.SortStableFunc(in, func(a, b avPacket) int { return a.pkt.Arrival.Compare(b.pkt.Arrival) })
	segs, status := recordPackets(t, clip, in, discardLogger())
	require.Len(t, segs, 1)
	require.Equal(t, uint64(1), status.Loss.HolesFilled)
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,start_time",
		"-of", "csv=p=0", segs[0].Path).CombinedOutput()
	require.NoError(t, err, string(out))
	starts := map[string]float64{}
	for _, line := range strings.Fields(string(out)) {
		codec, start, _ := strings.Cut(line, ",")
		starts[codec], err = strconv.ParseFloat(start, 64)
		require.NoError(t, err, line)
	}
	require.InDelta(t, starts["h264"], starts["opus"], 0.025, "ffprobe: %s", out)
}

// TestQueueOverflowNeverCuts: 2.5 s of a 1080p stream missing on both tracks (a subscriber queue
// that overflowed under load; more packets than the reorder buffer's ring) is loss: the segment
// goes on, video waits for the next keyframe.
func TestQueueOverflowNeverCuts(t *testing.T) {
	clip := packetizeClip(t, media.H264, "1080p-h264.h264")
	in := avStream(t, clip, 10*time.Second)
	t0 := in[0].pkt.Arrival
	in = slices.DeleteFunc(in, func(p avPacket) bool {
		at := p.pkt.Arrival.Sub(t0)
		return at >= 3*time.Second && at < 5500*time.Millisecond
	})
	var logs logBuffer
	segs, status := recordPackets(t, clip, in, logs.logger())
	require.Len(t, segs, 1, "log:\n%s", logs.String())
	require.InDelta(t, 10, segs[0].Duration.Seconds(), 0.15)
	require.Zero(t, status.Loss.Discontinuities)
	require.Equal(t, uint64(1), status.Loss.KeyframeWaits)
	require.Greater(t, status.Loss.PacketsLost, uint64(512))
	require.InDelta(t, 3, status.Loss.LongestSkip.Seconds(), 0.1, "from 3 s to the keyframe at 6 s")
}

// TestLostPaddingNeedsNoKeyframe: with VP8 picture IDs, a padding packet lost between two frames
// is told from a lost frame: the next frame follows the last one, so nothing is skipped. A frame
// lost whole breaks the picture ID sequence and video waits for the keyframe.
func TestLostPaddingNeedsNoKeyframe(t *testing.T) {
	clip := packetizeClip(t, media.VP8, "240p-vp8.ivf")
	for _, tc := range []struct {
		name      string
		lose      func(frame int, padding bool) bool
		waits     uint64
		delivered int
	}{
		{"padding lost", func(frame int, padding bool) bool { return padding && frame == 30 }, 0, clipFrames},
		{"a frame lost", func(frame int, padding bool) bool { return !padding && frame == 31 }, 1, clipFrames - 29},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c := newCollected(clip.info)
			seq := uint16(100)
			at := time.Unix(1000, 0)
			send := func(p *rtp.Packet, frame int, padding bool) {
				hdr := p.Header.Clone()
				hdr.SequenceNumber = seq
				seq++
				if !tc.lose(frame, padding) {
					require.NoError(t, r.push(&media.Packet{RTP: &rtp.Packet{Header: hdr, Payload: p.Payload}, Arrival: at}))
				}
			}
			for i, p := range clip.packets {
				frame := int(clip.ticks[i] / clipFrameTicks)
				at = time.Unix(1000, 0).Add(time.Duration(frame) * time.Second / 30)
				send(p, frame, false)
				if p.Marker && frame%10 == 0 { // padding after every tenth frame
					send(&rtp.Packet{Header: rtp.Header{Timestamp: p.Timestamp, Padding: true, PaddingSize: 200}}, frame, true)
				}
			}
			require.NoError(t, r.flush())
			require.Equal(t, tc.waits, c.stats.keyframeWaits.Load())
			require.Len(t, c.aus, tc.delivered)
		})
	}
}

// TestSequenceJumpWithSteadyClockIsLoss: sequence numbers that jump further than they can be
// followed while the RTP clock goes on in step with arrivals (a long loss at a high packet rate)
// is loss, not a new timeline.
func TestSequenceJumpWithSteadyClockIsLoss(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	in := avStream(t, clip, 8*time.Second)
	t0 := in[0].pkt.Arrival
	in = slices.DeleteFunc(in, func(p avPacket) bool {
		at := p.pkt.Arrival.Sub(t0)
		return at >= 3*time.Second && at < 3500*time.Millisecond
	})
	for _, p := range in {
		if p.pkt.Arrival.Sub(t0) >= 3*time.Second {
			p.pkt.RTP.SequenceNumber += 40000
		}
	}
	var logs logBuffer
	segs, status := recordPackets(t, clip, in, logs.logger())
	require.Len(t, segs, 1, "log:\n%s", logs.String())
	require.InDelta(t, 8, segs[0].Duration.Seconds(), 0.15)
	require.Zero(t, status.Loss.Discontinuities)
	require.Equal(t, uint64(1), status.Loss.KeyframeWaits)
	require.Greater(t, status.Loss.PacketsLost, uint64(40000))
}
