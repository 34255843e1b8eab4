package webm_test

// Test media and tools shared by this package's tests. The clips_test.go files of
// internal/segment/fmp4 and internal/storage hold the same helpers, as test files
// cannot be imported across packages.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
)

// The clips of `vigil publish` (internal/publish/clips/make.sh): 4 s, 320x240 video at 30 fps
// with a key frame every 60th frame, and 20 ms Opus packets.
const (
	frameDur  = time.Second / 30
	opusDur   = 20 * time.Millisecond
	clipWidth = 320
	clipHigh  = 240
)

type frame struct {
	data []byte
	key  bool
}

func readClip(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "publish", "clips", name))
	require.NoError(t, err)
	return b
}

// h264Frames returns the access units of the H.264 clip in AVCC form (4-byte lengths). A new
// access unit starts at an AUD, SEI, SPS or PPS after a picture, or at a second picture.
func h264Frames(t *testing.T) []frame {
	t.Helper()
	var out []frame
	var cur frame
	picture := false
	for _, nal := range splitAnnexB(readClip(t, "240p-h264.h264")) {
		if len(nal) == 0 {
			continue
		}
		typ := nal[0] & 0x1f
		isPicture := typ == 1 || typ == 5
		if picture && (isPicture || typ == 6 || typ == 7 || typ == 8 || typ == 9) {
			out = append(out, cur)
			cur, picture = frame{}, false
		}
		cur.data = binary.BigEndian.AppendUint32(cur.data, uint32(len(nal)))
		cur.data = append(cur.data, nal...)
		cur.key = cur.key || typ == 5
		picture = picture || isPicture
	}
	require.True(t, picture, "no H.264 picture in the clip")
	return append(out, cur)
}

func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			out = append(out, bytes.TrimRight(b[start:i], "\x00"))
		}
		start = i + 3
		i += 2
	}
	if start >= 0 {
		out = append(out, b[start:])
	}
	return out
}

// h264Config returns the SPS and PPS of an AVCC access unit.
func h264Config(t *testing.T, au []byte) (sps, pps []byte) {
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

// ivfFrames returns the frames of a VP8 or VP9 IVF clip.
func ivfFrames(t *testing.T, name string) []frame {
	t.Helper()
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(readClip(t, name)))
	require.NoError(t, err)
	vp9 := string(hdr.FourCC[:]) == "VP90"
	var out []frame
	for {
		f, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		key := f[0]&0x01 == 0 // VP8 frame tag, RFC 6386 §9.1
		if vp9 {
			// Profile 0: frame_marker(2) profile(2) show_existing_frame(1) frame_type(1).
			key = f[0]&0x08 == 0 && f[0]&0x04 == 0
		}
		out = append(out, frame{data: f, key: key})
	}
}

// opusPackets returns the Opus packets of the audio clip (one per page) and its channel count.
func opusPackets(t *testing.T) ([][]byte, int) {
	t.Helper()
	r, hdr, err := oggreader.NewWith(bytes.NewReader(readClip(t, "audio-opus.ogg")))
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

func h264Track(t *testing.T, first []byte) segment.Track {
	t.Helper()
	sps, pps := h264Config(t, first)
	return segment.Track{Kind: media.KindVideo, Codec: media.H264, ClockRate: 90000, SPS: sps, PPS: pps}
}

func vp8Track(t *testing.T, key []byte) segment.Track {
	t.Helper()
	require.True(t, len(key) >= 10 && key[3] == 0x9d && key[4] == 0x01 && key[5] == 0x2a, "no VP8 key frame header")
	return segment.Track{Kind: media.KindVideo, Codec: media.VP8, ClockRate: 90000,
		Width: int(binary.LittleEndian.Uint16(key[6:]) & 0x3fff), Height: int(binary.LittleEndian.Uint16(key[8:]) & 0x3fff)}
}

func vp9Track() segment.Track {
	return segment.Track{Kind: media.KindVideo, Codec: media.VP9, ClockRate: 90000, Width: clipWidth, Height: clipHigh,
		VP9Profile: 0, VP9BitDepth: 8, VP9Chroma: 1}
}

func opusTrack(channels int) segment.Track {
	return segment.Track{Kind: media.KindAudio, Codec: media.Opus, ClockRate: 48000, Channels: channels}
}

// interleave orders video (at 30 fps, track videoTrack) and audio (20 ms packets, track
// audioTrack) samples by time, as a recorder hands them over; a track of -1 is left out.
func interleave(video []frame, videoTrack int, audio [][]byte, audioTrack int) []segment.Sample {
	var out []segment.Sample
	if videoTrack >= 0 {
		for i, f := range video {
			out = append(out, segment.Sample{Track: videoTrack, PTS: time.Duration(i) * frameDur, Key: f.key, Data: f.data})
		}
	}
	if audioTrack >= 0 {
		for i, p := range audio {
			out = append(out, segment.Sample{Track: audioTrack, PTS: time.Duration(i) * opusDur, Key: true, Data: p})
		}
	}
	slices.SortStableFunc(out, func(a, b segment.Sample) int { return int(a.PTS - b.PTS) })
	return out
}

// snapshotFile is a file that keeps a copy of its whole content after every Write call: each
// snapshot is what a crash right after that call would leave on disk. It counts the calls that
// append and those that overwrite earlier bytes (a header patched in place).
type snapshotFile struct {
	t          *testing.T
	f          *os.File
	writes     int
	overwrites int
	snapshots  [][]byte
}

func newSnapshotFile(t *testing.T, name string) *snapshotFile {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return &snapshotFile{t: t, f: f}
}

func (s *snapshotFile) Write(b []byte) (int, error) {
	pos, err := s.f.Seek(0, io.SeekCurrent)
	require.NoError(s.t, err)
	st, err := s.f.Stat()
	require.NoError(s.t, err)
	if pos < st.Size() {
		s.overwrites++
	}
	n, err := s.f.Write(b)
	s.writes++
	content, rerr := os.ReadFile(s.f.Name())
	require.NoError(s.t, rerr)
	s.snapshots = append(s.snapshots, content)
	return n, err
}

func (s *snapshotFile) Seek(off int64, whence int) (int64, error) { return s.f.Seek(off, whence) }

// probe is what ffprobe tells of a file.
type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func (p probe) codecs() []string {
	var out []string
	for _, s := range p.Streams {
		out = append(out, s.CodecName)
	}
	return out
}

func (p probe) duration(t *testing.T) time.Duration {
	t.Helper()
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	require.NoError(t, err, "format duration %q", p.Format.Duration)
	return time.Duration(d * float64(time.Second))
}

// needFFmpeg skips the test when ffprobe or ffmpeg is not installed.
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// ffprobe reads the streams and duration of path, failing the test when it cannot.
func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"format=duration:stream=codec_name,codec_type", "-of", "json", path).CombinedOutput()
	require.NoError(t, err, "ffprobe %s: %s", path, out)
	var p probe
	require.NoError(t, json.Unmarshal(out, &p), "ffprobe output: %s", out)
	require.NotEmpty(t, p.Streams, "ffprobe found no stream in %s", path)
	return p
}

// ffmpegDecode decodes the whole of path and fails the test on any error ffmpeg reports.
func ffmpegDecode(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "ffmpeg %s: %s", path, out)
	require.Empty(t, string(out), "ffmpeg reported errors decoding %s", path)
}
