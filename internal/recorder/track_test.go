package recorder

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/testutil"
)

// The clips of `vigil publish` (internal/publish/clips/make.sh): 4 s at 30 fps, a key frame
// every 60th frame.
const (
	clipFrames     = 120
	clipKeyEvery   = 60
	clipFrameTicks = 90000 / 30
	clipMTU        = 1200
)

// rtpClip is a clip packetized once with pion's payloaders, as a pion publisher sends it.
type rtpClip struct {
	info    hub.TrackInfo
	packets []*rtp.Packet
	ticks   []uint32 // RTP time of each packet from the first
	seq0    uint16
	ts0     uint32
	payload int // payload bytes of all packets
}

// packetizeClip packetizes one pass of a built-in video clip.
func packetizeClip(tb testing.TB, codec media.Codec, file string) *rtpClip {
	tb.Helper()
	var frames [][]byte
	var payloader rtp.Payloader
	switch codec {
	case media.H264:
		frames, payloader = testutil.FrameData(testutil.H264AnnexBFrames(tb, file)), &codecs.H264Payloader{}
	case media.VP8:
		frames, payloader = testutil.FrameData(testutil.IVFFrames(tb, file)), &codecs.VP8Payloader{EnablePictureID: true}
	default:
		tb.Fatalf("no built-in clip for %s", codec)
	}
	require.Len(tb, frames, clipFrames)
	return packetize(codec, frames, payloader)
}

// packetize turns frames at 30 fps into RTP packets at MTU 1200, as a pion publisher sends them.
// Sequence numbers and timestamps start close to their wrap so that looping crosses both.
func packetize(codec media.Codec, frames [][]byte, payloader rtp.Payloader) *rtpClip {
	p := rtp.NewPacketizerWithOptions(clipMTU, payloader, rtp.NewFixedSequencer(65000), 90000,
		rtp.WithPayloadType(96), rtp.WithSSRC(0x5eed), rtp.WithTimestamp(0xfff00000))
	c := &rtpClip{info: hub.TrackInfo{Kind: media.KindVideo, Codec: codec, ClockRate: 90000}}
	for _, f := range frames {
		for _, pkt := range p.Packetize(f, clipFrameTicks) {
			c.packets = append(c.packets, pkt)
			c.payload += len(pkt.Payload)
		}
	}
	c.seq0, c.ts0 = c.packets[0].SequenceNumber, c.packets[0].Timestamp
	for _, pkt := range c.packets {
		c.ticks = append(c.ticks, pkt.Timestamp-c.ts0)
	}
	return c
}

// countingFile is a discarding segment File that counts Write calls and bytes.
type countingFile struct {
	writes     int
	overwrites int
	bytes      int64
	pos, size  int64
}

func (f *countingFile) Write(b []byte) (int, error) {
	f.writes++
	if f.pos < f.size {
		f.overwrites++
	}
	f.pos += int64(len(b))
	f.size = max(f.size, f.pos)
	f.bytes += int64(len(b))
	return len(b), nil
}

func (f *countingFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		f.pos = off
	case io.SeekCurrent:
		f.pos += off
	case io.SeekEnd:
		f.pos = f.size + off
	}
	return f.pos, nil
}

func (f *countingFile) Commit(string) (string, error) { return "", nil }
func (f *countingFile) Abort() error                  { return nil }

var _ File = (*countingFile)(nil)

// pipeline is the recorder's media path for one video track without the hub and the timeline:
// RTP → trackReader → segment writer. The segment opens at the first key frame.
type pipeline struct {
	container Container
	reader    *trackReader
	file      File
	w         segment.Writer
	first     int64 // RTP time of the first sample
	samples   int
	stats     lossStats
}

func newPipeline(info hub.TrackInfo, c Container, f File) *pipeline {
	p := &pipeline{container: c, file: f}
	p.reader = newTrackReader(0, info, true, p, &p.stats)
	return p
}

func (p *pipeline) push(pkt *media.Packet) error { return p.reader.push(pkt) }

func (p *pipeline) accessUnit(au *accessUnit) error {
	if p.w == nil {
		if !au.key {
			return nil
		}
		tracks, _, _, err := segmentTracks([]hub.TrackInfo{p.reader.info}, 0, -1, au.data)
		if err != nil {
			return err
		}
		w, err := newWriter(p.container, p.file, tracks, segment.Options{})
		if err != nil {
			return err
		}
		p.w, p.first = w, au.rtp64
	}
	pts := time.Duration((au.rtp64 - p.first) * int64(time.Second) / int64(p.reader.info.ClockRate))
	if err := p.w.WriteSample(segment.Sample{PTS: pts, Key: au.key, Data: au.data}); err != nil {
		return err
	}
	p.samples++
	return nil
}

func (p *pipeline) discontinuity(int, string) error { return nil }
func (p *pipeline) keyframeNeeded()                 {}

// collector is an auSink that keeps copies of everything a track reader hands on.
type collector struct {
	aus             []accessUnit
	discontinuities []string
	keyRequests     int
	stats           lossStats
}

func (c *collector) accessUnit(au *accessUnit) error {
	kept := *au
	kept.data = bytes.Clone(au.data)
	c.aus = append(c.aus, kept)
	return nil
}

func (c *collector) discontinuity(_ int, reason string) error {
	c.discontinuities = append(c.discontinuities, reason)
	return nil
}

func (c *collector) keyframeNeeded() { c.keyRequests++ }

// newCollected returns a reader of info whose output c collects.
func newCollected(info hub.TrackInfo) (*trackReader, *collector) {
	c := &collector{}
	return newTrackReader(0, info, true, c, &c.stats), c
}

// writesPerSecond is the number of Write calls per second of media written, counting at least
// one second: a segment shorter than a fragment still takes a header and a fragment.
func (p *pipeline) writesPerSecond() float64 {
	if p.w == nil {
		return 0
	}
	return float64(p.file.(*countingFile).writes) / max(p.w.Duration().Seconds(), 1)
}

// feeder plays a clip in a loop, one RTP packet at a time, with arrival times in step with the
// RTP clock.
type feeder struct {
	clip *rtpClip
	pkt  media.Packet
	t0   time.Time
}

func newFeeder(c *rtpClip) *feeder {
	return &feeder{clip: c, t0: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// next returns packet i of the endless loop. The clip's own packets are renumbered in place:
// by the time a packet comes round again the reader has long handed it on (it keeps no packet).
func (f *feeder) next(i int) *media.Packet {
	n := len(f.clip.packets)
	loop, off := i/n, i%n
	ticks := int64(loop)*clipFrames*clipFrameTicks + int64(f.clip.ticks[off])
	p := f.clip.packets[off]
	p.SequenceNumber = f.clip.seq0 + uint16(i)
	p.Timestamp = f.clip.ts0 + uint32(ticks)
	f.pkt = media.Packet{RTP: p, Kind: media.KindVideo, Arrival: f.t0.Add(time.Duration(ticks * int64(time.Second) / 90000))}
	return &f.pkt
}

// TestTrackReaderClips plays the clips through the track reader: every frame comes out once, in
// order, as one access unit with the key frames where the encoder put them, across the RTP
// sequence number and timestamp wraps.
func TestTrackReaderClips(t *testing.T) {
	for _, tc := range []struct {
		codec media.Codec
		file  string
	}{
		{media.H264, "240p-h264.h264"},
		{media.H264, "1080p-h264.h264"},
		{media.VP8, "240p-vp8.ivf"},
		{media.VP8, "1080p-vp8.ivf"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			clip := packetizeClip(t, tc.codec, tc.file)
			f := newFeeder(clip)
			r, c := newCollected(clip.info)
			const passes = 3
			for i := range passes * len(clip.packets) {
				require.NoError(t, r.push(f.next(i)))
			}
			// The last frame is complete at its marker bit: nothing waits for the next one.
			require.Len(t, c.aus, passes*clipFrames)
			for i, au := range c.aus {
				require.Equal(t, i%clipKeyEvery == 0, au.key, "frame %d", i)
				require.Equal(t, int64(clip.ts0)+int64(i)*clipFrameTicks, au.rtp64, "frame %d", i)
				require.Equal(t, f.t0.Add(time.Duration(i)*time.Second/30), au.wall, "frame %d", i)
				require.Equal(t, tc.codec, au.codec)
			}
		})
	}
}

// feed plays packets of clip through a pipeline writing container c, and closes the segment.
func feed(t *testing.T, clip *rtpClip, c Container, file File, packets int) *pipeline {
	t.Helper()
	p := newPipeline(clip.info, c, file)
	f := newFeeder(clip)
	for i := range packets {
		require.NoError(t, p.push(f.next(i)))
	}
	require.NotNil(t, p.w, "no key frame reached the writer")
	require.NoError(t, p.w.Close())
	return p
}

// TestWritesPerSecondOfMedia checks that the media path writes each fragment or cluster (one
// second) with one call, whatever the packet size: at most one Write call per second of media,
// plus the header and the last fragment (and for WebM, at close, the Cues appended and the
// SeekHead and the Duration patched in place).
func TestWritesPerSecondOfMedia(t *testing.T) {
	for _, tc := range []struct {
		codec     media.Codec
		file      string
		container Container
		patches   int
	}{
		{media.H264, "1080p-h264.h264", MP4, 0},
		{media.VP8, "1080p-vp8.ivf", WebM, 2},
		{media.H264, "240p-h264.h264", MP4, 0},
		{media.VP8, "240p-vp8.ivf", WebM, 2},
	} {
		t.Run(string(tc.container)+"/"+tc.file, func(t *testing.T) {
			clip := packetizeClip(t, tc.codec, tc.file)
			const passes = 3 // 12 s
			var file countingFile
			p := feed(t, clip, tc.container, &file, passes*len(clip.packets))
			seconds := p.w.Duration().Seconds()
			require.InDelta(t, passes*4, seconds, 0.1)
			require.Equal(t, passes*clipFrames, p.samples)
			require.Equal(t, tc.patches, file.overwrites)
			require.Equal(t, p.w.Bytes(), file.size)
			appends := file.writes - file.overwrites
			if tc.container == WebM {
				appends-- // the Cues
			}
			require.LessOrEqual(t, float64(appends), 1+seconds+1)
			require.LessOrEqual(t, p.writesPerSecond(), 2.0)
		})
	}
}

// benchmarkRTPTo measures the recorder's media path, one RTP packet per op: reassembly in the
// track reader and formatting by the segment writer, into a discarding file.
func benchmarkRTPTo(b *testing.B, codec media.Codec, file string, c Container) {
	clip := packetizeClip(b, codec, file)
	p := newPipeline(clip.info, c, &countingFile{})
	f := newFeeder(clip)
	b.SetBytes(int64(clip.payload / len(clip.packets)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.push(f.next(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if p.w != nil {
		if err := p.w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(p.writesPerSecond(), "writes/s-of-media")
}

// BenchmarkRTPToFMP4 is H.264 at 1080p (2.5 Mbps) into fragmented MP4.
func BenchmarkRTPToFMP4(b *testing.B) { benchmarkRTPTo(b, media.H264, "1080p-h264.h264", MP4) }

// BenchmarkRTPToWebM is VP8 at 1080p (2.5 Mbps) into WebM.
func BenchmarkRTPToWebM(b *testing.B) { benchmarkRTPTo(b, media.VP8, "1080p-vp8.ivf", WebM) }

// TestTrackReaderH265SplitAccessUnit sends an H.265 key frame as pion's payloader does when a
// NAL unit before the picture is too big for one packet: VPS, SPS and PPS aggregated, then a
// fragmented SEI, then the fragmented IDR slice. The reader must make one key access unit of it,
// in length-prefixed form.
func TestTrackReaderH265SplitAccessUnit(t *testing.T) {
	ts := uint32(0xfffff000)
	pkts := []*rtp.Packet{
		{Header: rtp.Header{SequenceNumber: 65534, Timestamp: ts}, Payload: []byte{
			0x60, 0x01, // aggregation packet
			0, 3, 0x40, 0x01, 'v', 0, 3, 0x42, 0x01, 's', 0, 3, 0x44, 0x01, 'p'}},
		{Header: rtp.Header{SequenceNumber: 65535, Timestamp: ts}, Payload: []byte{0x62, 0x01, 0x80 | 39, 's', 'e'}},
		{Header: rtp.Header{SequenceNumber: 0, Timestamp: ts}, Payload: []byte{0x62, 0x01, 0x40 | 39, 'i'}},
		{Header: rtp.Header{SequenceNumber: 1, Timestamp: ts}, Payload: []byte{0x62, 0x01, 0x80 | 19, 'i', 'd'}},
		{Header: rtp.Header{SequenceNumber: 2, Timestamp: ts, Marker: true}, Payload: []byte{0x62, 0x01, 0x40 | 19, 'r'}},
		{Header: rtp.Header{SequenceNumber: 3, Timestamp: ts + 3000, Marker: true}, Payload: []byte{0x02, 0x01, 'p', '1'}},
		{Header: rtp.Header{SequenceNumber: 4, Timestamp: ts + 6000, Marker: true}, Payload: []byte{0x02, 0x01, 'p', '2'}},
	}
	r, c := newCollected(hub.TrackInfo{Kind: media.KindVideo, Codec: media.H265, ClockRate: 90000})
	for i, p := range pkts {
		require.NoError(t, r.push(&media.Packet{RTP: p, Kind: media.KindVideo, Arrival: time.Unix(int64(i), 0)}))
	}
	aus := c.aus
	require.Len(t, aus, 3)
	require.True(t, aus[0].key)
	require.Equal(t, [][]byte{
		{0x40, 0x01, 'v'}, {0x42, 0x01, 's'}, {0x44, 0x01, 'p'}, {0x4e, 0x01, 's', 'e', 'i'}, {0x26, 0x01, 'i', 'd', 'r'},
	}, avccUnits(aus[0].data))
	require.Equal(t, int64(ts), aus[0].rtp64)
	require.False(t, aus[1].key)
	require.Equal(t, [][]byte{{0x02, 0x01, 'p', '1'}}, avccUnits(aus[1].data))
	require.Equal(t, int64(ts)+3000, aus[1].rtp64, "the timestamp wrap is unwrapped")

	tracks, _, _, err := segmentTracks([]hub.TrackInfo{r.info}, 0, -1, aus[0].data)
	require.NoError(t, err)
	require.Equal(t, []byte{0x40, 0x01, 'v'}, tracks[0].VPS)
	require.Equal(t, []byte{0x42, 0x01, 's'}, tracks[0].SPS)
	require.Equal(t, []byte{0x44, 0x01, 'p'}, tracks[0].PPS)
}
