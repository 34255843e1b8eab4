package hub

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// vp8Keyframe is the start of a VP8 key frame as one RTP payload: the payload descriptor with S
// set and partition 0, then the frame tag, the start code and the 14-bit width and height
// (RFC 7741 §4.2, RFC 6386 §9.1).
func vp8Keyframe(width, height int) []byte {
	return []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a,
		byte(width), byte(width >> 8), byte(height), byte(height >> 8)}
}

func statsPacket(seq uint16, ts uint32, payload []byte, key bool, arrival time.Time) *media.Packet {
	return &media.Packet{
		RTP:           &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}, Payload: payload},
		Kind:          media.KindVideo,
		KeyframeStart: key,
		Arrival:       arrival,
	}
}

func TestStatsSequenceAccounting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		seqs    []uint16
		packets uint64
		lost    uint64
	}{
		{"single packet", []uint16{7}, 1, 0},
		{"in order", []uint16{10, 11, 12, 13}, 4, 0},
		{"gap", []uint16{10, 11, 14, 15}, 4, 2},
		{"16-bit wrap", []uint16{65534, 65535, 0, 1}, 4, 0},
		{"wrap with a gap on each side", []uint16{65533, 65535, 0, 3}, 4, 3},
		{"starting at zero after a wrap", []uint16{65535, 0}, 2, 0},
		{"late packet fills the gap", []uint16{10, 12, 11}, 3, 0},
		{"duplicate does not hide nor add loss", []uint16{10, 11, 11, 12}, 4, 0},
		{"old packet from before the wrap", []uint16{65535, 0, 1, 65535, 2}, 5, 0},
		{"two wraps", func() []uint16 {
			var out []uint16
			for i := range 2*65536 + 10 {
				if i%1000 != 999 { // lose one packet in every thousand
					out = append(out, uint16(i))
				}
			}
			return out
		}(), 2*65536 + 10 - 131, 131},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, clk := newTestHub(t, Config{})
			s, _ := newVideoStream(t, h)
			defer s.Close()
			var bytes uint64
			for i, seq := range tc.seqs {
				payload := make([]byte, 10+i%7)
				bytes += uint64(len(payload))
				s.Write(statsPacket(seq, uint32(i)*3000, payload, false, clk.now()))
			}
			v := s.Snapshot().Video
			require.NotNil(t, v)
			require.Equal(t, tc.packets, v.Packets)
			require.Equal(t, bytes, v.Bytes)
			require.Equal(t, tc.lost, v.Lost)
		})
	}
}

func TestStatsKeyframesAndSize(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	defer s.Close()
	at := clk.now()
	for _, p := range []*media.Packet{
		// One key frame sent as two packets that each start it (parameter sets, then the picture,
		// as H.264 STAP-A and FU-A would), then its continuation: one keyframe.
		statsPacket(1, 1000, vp8Keyframe(320, 240), true, at),
		statsPacket(2, 1000, vp8Keyframe(320, 240), true, at),
		statsPacket(3, 1000, []byte{0x00, 0x01, 0x02}, false, at),
		// A delta frame whose bytes happen to look like a key frame header is not a keyframe
		// start, so its size is ignored.
		statsPacket(4, 4000, vp8Keyframe(1920, 1080), false, at),
		// The next keyframe, of a new size; a start packet without a readable size keeps it.
		statsPacket(5, 7000, vp8Keyframe(640, 480), true, at),
		statsPacket(6, 10000, []byte{0x10, 0x01}, false, at),
		statsPacket(7, 13000, []byte{0x10}, true, at),
	} {
		s.Write(p)
	}
	v := s.Snapshot().Video
	require.NotNil(t, v)
	require.Equal(t, media.VP8, v.Codec)
	require.EqualValues(t, 7, v.Packets)
	require.EqualValues(t, 5, v.Frames, "distinct timestamps")
	require.EqualValues(t, 3, v.Keyframes, "once per keyframe timestamp")
	require.Equal(t, 640, v.Width)
	require.Equal(t, 480, v.Height)
	require.Equal(t, at, v.LastPacket)
}

func TestStatsFirstSizeFromKeyframe(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	defer s.Close()
	s.Write(statsPacket(1, 0, vp8Keyframe(1280, 720), false, clk.now()))
	v := s.Snapshot().Video
	require.Zero(t, v.Width, "no size before a keyframe")
	require.Zero(t, v.Height)
	s.Write(statsPacket(2, 3000, vp8Keyframe(320, 240), true, clk.now()))
	v = s.Snapshot().Video
	require.Equal(t, 320, v.Width)
	require.Equal(t, 240, v.Height)
}

func TestStatsRatesOverWholeSeconds(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	defer s.Close()

	// Second T: three packets of 100 bytes in two frames.
	t0 := clk.now()
	s.Write(statsPacket(1, 0, make([]byte, 100), true, t0))
	s.Write(statsPacket(2, 0, make([]byte, 100), false, t0))
	s.Write(statsPacket(3, 3000, make([]byte, 100), false, t0))

	for _, tc := range []struct {
		name    string
		advance time.Duration
		write   bool
		bitrate float64
		fps     float64
	}{
		{"during the first second: nothing whole yet", 0, false, 0, 0},
		{"the next second reports the first", time.Second, false, 2400, 2},
		{"still so once the new second has packets", 0, true, 2400, 2},
		{"quiet track", 2 * time.Second, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.advance(tc.advance)
			if tc.write {
				s.Write(statsPacket(4, 6000, make([]byte, 50), false, clk.now()))
			}
			v := s.Snapshot().Video
			require.InDelta(t, tc.bitrate, v.Bitrate, 0)
			require.InDelta(t, tc.fps, v.FPS, 0)
		})
	}
}

func TestSnapshot(t *testing.T) {
	h, clk := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	defer s.Close()

	snap := s.Snapshot()
	require.Equal(t, s.ID(), snap.ID)
	require.Equal(t, "cam", snap.Name)
	require.Equal(t, s.Created(), snap.Created)
	require.Equal(t, clk.now(), snap.Created)
	require.Len(t, snap.Tracks, 2)
	require.NotNil(t, snap.Video)
	require.NotNil(t, snap.Audio)
	require.False(t, snap.Publishing())

	a := audioPacket(1)
	a.Arrival = clk.now()
	s.Write(a)
	a2 := audioPacket(2)
	a2.Arrival = clk.now()
	s.Write(a2)
	s.CountPLI()
	s.CountPLI()
	s.CountNACK(5)

	snap = s.Snapshot()
	require.True(t, snap.Publishing())
	require.Equal(t, media.Opus, snap.Audio.Codec)
	require.EqualValues(t, 2, snap.Audio.Packets)
	require.EqualValues(t, 2, snap.Audio.Frames, "an audio packet is a frame")
	require.Zero(t, snap.Video.Packets)
	require.EqualValues(t, 2, snap.PLIs)
	require.EqualValues(t, 5, snap.NACKs)

	// A stream with audio only has no video stats.
	src := &fakeSource{}
	audioOnly, err := h.Create("radio", src)
	require.NoError(t, err)
	defer audioOnly.Close()
	audioOnly.SetTracks([]TrackInfo{{Kind: media.KindAudio, Codec: media.Opus, ClockRate: 48000, Channels: 2}})
	snap = audioOnly.Snapshot()
	require.Nil(t, snap.Video)
	require.NotNil(t, snap.Audio)
}
