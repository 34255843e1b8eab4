package testutil

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/probe"
	"github.com/vigilrec/vigil/internal/segment"
)

// The clips of `vigil publish` (internal/publish/clips/make.sh): 4 s, 320x240 video at 30 fps
// with a key frame every 60th frame, and 20 ms Opus packets.
const (
	ClipFrames   = 120
	ClipKeyEvery = 60
	ClipFrameDur = time.Second / 30
	ClipOpusDur  = 20 * time.Millisecond
	ClipWidth    = 320
	ClipHeight   = 240
)

// Frame is one video frame of a clip.
type Frame struct {
	Data []byte
	Key  bool
}

// FrameData returns the data of frames.
func FrameData(frames []Frame) [][]byte {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = f.Data
	}
	return out
}

// ClipPath is the path of a built-in clip, wherever the test runs from.
func ClipPath(name string) string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "publish", "clips", name)
}

// ReadClip returns the bytes of a built-in clip.
func ReadClip(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(ClipPath(name))
	require.NoError(t, err)
	return b
}

// H264Frames returns the access units of an H.264 clip in AVCC form (4-byte lengths), as
// containers store them.
func H264Frames(t testing.TB, name string) []Frame {
	t.Helper()
	return h264Frames(t, name, func(au, nal []byte) []byte {
		return append(binary.BigEndian.AppendUint32(au, uint32(len(nal))), nal...)
	})
}

// H264AnnexBFrames returns the access units of an H.264 clip in Annex B form (start codes), as
// pion's payloader takes them.
func H264AnnexBFrames(t testing.TB, name string) []Frame {
	t.Helper()
	return h264Frames(t, name, func(au, nal []byte) []byte { return append(append(au, 0, 0, 0, 1), nal...) })
}

// h264Frames groups NAL units into access units: a new one starts at an AUD, SEI, SPS or PPS
// after a picture, or at a second picture (the clips have one slice per picture).
func h264Frames(t testing.TB, name string, add func(au, nal []byte) []byte) []Frame {
	t.Helper()
	var out []Frame
	var cur Frame
	picture := false
	for _, nal := range media.SplitAnnexB(ReadClip(t, name)) {
		if len(nal) == 0 {
			continue
		}
		typ := nal[0] & 0x1f
		isPicture := typ == 1 || typ == 5
		if picture && (isPicture || typ == 6 || typ == 7 || typ == 8 || typ == 9) {
			out = append(out, cur)
			cur, picture = Frame{}, false
		}
		cur.Data = add(cur.Data, nal)
		cur.Key = cur.Key || typ == 5
		picture = picture || isPicture
	}
	require.True(t, picture, "no H.264 picture in the clip")
	return append(out, cur)
}

// H264Config returns the SPS and PPS of an AVCC access unit.
func H264Config(t testing.TB, au []byte) (sps, pps []byte) {
	t.Helper()
	for len(au) >= 4 {
		n := binary.BigEndian.Uint32(au)
		nal := au[4 : 4+n]
		au = au[4+n:]
		switch nal[0] & 0x1f {
		case 7:
			sps = nal
		case 8:
			pps = nal
		}
	}
	require.NotEmpty(t, sps, "no SPS")
	require.NotEmpty(t, pps, "no PPS")
	return sps, pps
}

// IVFFrames returns the frames of a VP8 or VP9 IVF clip.
func IVFFrames(t testing.TB, name string) []Frame {
	t.Helper()
	return IVFFramesOf(t, ReadClip(t, name))
}

// IVFFramesOf returns the frames of an IVF file; Key is set for VP8 and VP9 only.
func IVFFramesOf(t testing.TB, data []byte) []Frame {
	t.Helper()
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(data))
	require.NoError(t, err)
	vp8, vp9 := string(hdr.FourCC[:]) == "VP80", string(hdr.FourCC[:]) == "VP90"
	var out []Frame
	for {
		f, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		key := false
		switch {
		case vp8:
			key = f[0]&0x01 == 0 // frame tag, RFC 6386 §9.1
		case vp9:
			// Profile 0: frame_marker(2) profile(2) show_existing_frame(1) frame_type(1).
			key = f[0]&0x08 == 0 && f[0]&0x04 == 0
		}
		out = append(out, Frame{Data: f, Key: key})
	}
}

// OpusPackets returns the Opus packets of the audio clip (one per page) and its channel count.
func OpusPackets(t testing.TB) ([][]byte, int) {
	t.Helper()
	r, hdr, err := oggreader.NewWith(bytes.NewReader(ReadClip(t, "audio-opus.ogg")))
	require.NoError(t, err)
	var out [][]byte
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return out, int(hdr.Channels)
		}
		require.NoError(t, err)
		if bytes.HasPrefix(page, []byte("OpusHead")) || bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		out = append(out, page)
	}
}

// H264Track describes the H.264 clip's track, its parameter sets taken from its first access
// unit (AVCC).
func H264Track(t testing.TB, first []byte) segment.Track {
	t.Helper()
	sps, pps := H264Config(t, first)
	return segment.Track{Kind: media.KindVideo, Codec: media.H264, ClockRate: 90000, SPS: sps, PPS: pps}
}

// VP8Track describes a VP8 track, its picture size taken from a key frame.
func VP8Track(t testing.TB, key []byte) segment.Track {
	t.Helper()
	require.True(t, len(key) >= 10 && key[3] == 0x9d && key[4] == 0x01 && key[5] == 0x2a, "no VP8 key frame header")
	return segment.Track{Kind: media.KindVideo, Codec: media.VP8, ClockRate: 90000,
		Width: int(binary.LittleEndian.Uint16(key[6:]) & 0x3fff), Height: int(binary.LittleEndian.Uint16(key[8:]) & 0x3fff)}
}

// VP9Track describes the VP9 clip's track.
func VP9Track() segment.Track {
	return segment.Track{Kind: media.KindVideo, Codec: media.VP9, ClockRate: 90000, Width: ClipWidth, Height: ClipHeight,
		VP9Profile: 0, VP9BitDepth: 8, VP9Chroma: 1}
}

// OpusTrack describes an Opus track.
func OpusTrack(channels int) segment.Track {
	return segment.Track{Kind: media.KindAudio, Codec: media.Opus, ClockRate: 48000, Channels: channels}
}

// Interleave orders video (at 30 fps, track videoTrack) and audio (20 ms packets, track
// audioTrack) samples by time, as a recorder hands them over; a track of -1 is left out.
func Interleave(video []Frame, videoTrack int, audio [][]byte, audioTrack int) []segment.Sample {
	var out []segment.Sample
	if videoTrack >= 0 {
		for i, f := range video {
			out = append(out, segment.Sample{Track: videoTrack, PTS: time.Duration(i) * ClipFrameDur, Key: f.Key, Data: f.Data})
		}
	}
	if audioTrack >= 0 {
		for i, p := range audio {
			out = append(out, segment.Sample{Track: audioTrack, PTS: time.Duration(i) * ClipOpusDur, Key: true, Data: p})
		}
	}
	slices.SortStableFunc(out, func(a, b segment.Sample) int { return int(a.PTS - b.PTS) })
	return out
}

// SnapshotFile is a file that keeps a copy of its whole content after every Write call: each
// snapshot is what a crash right after that call would leave on disk. It counts the calls that
// append and those that overwrite earlier bytes (a header patched in place).
type SnapshotFile struct {
	t          testing.TB
	f          *os.File
	Writes     int
	Overwrites int
	Snapshots  [][]byte
}

// NewSnapshotFile creates name in a temporary directory of the test.
func NewSnapshotFile(t testing.TB, name string) *SnapshotFile {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return &SnapshotFile{t: t, f: f}
}

// Name is the file's path.
func (s *SnapshotFile) Name() string { return s.f.Name() }

// Last is the content after the last write.
func (s *SnapshotFile) Last() []byte { return s.Snapshots[len(s.Snapshots)-1] }

func (s *SnapshotFile) Write(b []byte) (int, error) {
	pos, err := s.f.Seek(0, io.SeekCurrent)
	require.NoError(s.t, err)
	st, err := s.f.Stat()
	require.NoError(s.t, err)
	if pos < st.Size() {
		s.Overwrites++
	}
	n, err := s.f.Write(b)
	s.Writes++
	content, rerr := os.ReadFile(s.f.Name())
	require.NoError(s.t, rerr)
	s.Snapshots = append(s.Snapshots, content)
	return n, err
}

// Seek implements io.Seeker.
func (s *SnapshotFile) Seek(off int64, whence int) (int64, error) { return s.f.Seek(off, whence) }

// NeedFFmpeg skips the test when ffprobe or ffmpeg is not installed.
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	if err := probe.Available(); err != nil {
		t.Skip(err)
	}
}

// FFprobe reads the streams and duration of path, failing the test when it cannot.
func FFprobe(t testing.TB, path string) probe.Result {
	t.Helper()
	r, err := probe.File(context.Background(), path)
	require.NoError(t, err)
	require.NotEmpty(t, r.Streams, "ffprobe found no stream in %s", path)
	return r
}

// FFmpegDecode decodes the whole of path and fails the test on any error ffmpeg reports.
func FFmpegDecode(t testing.TB, path string) {
	t.Helper()
	msg, err := probe.Decode(context.Background(), path)
	require.NoError(t, err)
	require.Empty(t, msg, "ffmpeg reported errors decoding %s", path)
}

// RequireFMP4Boxes walks the top-level boxes of b, which must cover it exactly and be ftyp, moov
// and then moof+mdat pairs, and returns their types.
func RequireFMP4Boxes(t testing.TB, b []byte) []string {
	t.Helper()
	var types []string
	for pos := 0; pos < len(b); {
		require.GreaterOrEqual(t, len(b)-pos, 8, "truncated box header at %d", pos)
		size := int(binary.BigEndian.Uint32(b[pos:]))
		require.GreaterOrEqual(t, size, 8, "box size at %d", pos)
		require.LessOrEqual(t, size, len(b)-pos, "box at %d runs past the end", pos)
		types = append(types, string(b[pos+4:pos+8]))
		pos += size
	}
	require.GreaterOrEqual(t, len(types), 2)
	require.Equal(t, []string{"ftyp", "moov"}, types[:2])
	require.Zero(t, (len(types)-2)%2, "moof without mdat: %v", types)
	for i := 2; i < len(types); i += 2 {
		require.Equal(t, []string{"moof", "mdat"}, types[i:i+2], "box %d", i)
	}
	return types
}
