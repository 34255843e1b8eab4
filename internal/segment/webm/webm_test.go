package webm_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/webm"
	"github.com/vigilrec/vigil/internal/testutil"
)

var _ segment.Writer = (*webm.Writer)(nil)

type writerCase struct {
	name    string
	tracks  []segment.Track
	samples []segment.Sample
	codecs  []string
	media   time.Duration // the media time written: the end of the longest track
}

// writerCases are about 4 s of the built-in clips, video at 30 fps and audio in 20 ms packets.
func writerCases(t *testing.T) []writerCase {
	t.Helper()
	vp8 := testutil.IVFFrames(t, "240p-vp8.ivf")
	vp9 := testutil.IVFFrames(t, "240p-vp9.ivf")
	opus, channels := testutil.OpusPackets(t)
	audioEnd := time.Duration(len(opus)) * testutil.ClipOpusDur
	return []writerCase{
		{
			name:    "vp8+opus",
			tracks:  []segment.Track{testutil.VP8Track(t, vp8[0].Data), testutil.OpusTrack(channels)},
			samples: testutil.Interleave(vp8, 0, opus, 1),
			codecs:  []string{"vp8", "opus"},
			media:   max(time.Duration(len(vp8))*testutil.ClipFrameDur, audioEnd),
		},
		{
			name:    "vp9+opus",
			tracks:  []segment.Track{testutil.VP9Track(), testutil.OpusTrack(channels)},
			samples: testutil.Interleave(vp9, 0, opus, 1),
			codecs:  []string{"vp9", "opus"},
			media:   max(time.Duration(len(vp9))*testutil.ClipFrameDur, audioEnd),
		},
		{
			name:    "opus",
			tracks:  []segment.Track{testutil.OpusTrack(channels)},
			samples: testutil.Interleave(nil, -1, opus, 0),
			codecs:  []string{"opus"},
			media:   audioEnd,
		},
	}
}

func write(t *testing.T, tc writerCase) *testutil.SnapshotFile {
	t.Helper()
	f := testutil.NewSnapshotFile(t, "out.webm")
	w, err := webm.New(f, tc.tracks, segment.Options{})
	require.NoError(t, err)
	var scratch []byte
	for _, s := range tc.samples {
		// One buffer for every sample, scribbled over after each call: the writer copies what
		// it keeps.
		scratch = append(scratch[:0], s.Data...)
		s.Data = scratch
		require.NoError(t, w.WriteSample(s))
		clear(scratch)
	}
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close is idempotent")
	require.ErrorIs(t, w.WriteSample(tc.samples[0]), segment.ErrClosed)
	require.Equal(t, int64(len(f.Snapshots[len(f.Snapshots)-1])), w.Bytes())
	end, err := f.Seek(0, 1)
	require.NoError(t, err)
	require.Equal(t, w.Bytes(), end, "Close leaves the file offset at the end")
	require.InDelta(t, tc.media, w.Duration(), float64(testutil.ClipFrameDur))
	return f
}

// TestWriterPlayable writes the clips and has ffprobe and ffmpeg read them back; the Duration
// patched in by Close is the media time.
func TestWriterPlayable(t *testing.T) {
	testutil.NeedFFmpeg(t)
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := write(t, tc)
			p := testutil.FFprobe(t, f.Name())
			require.Equal(t, tc.codecs, p.Codecs())
			require.InDelta(t, tc.media.Seconds(), p.Duration, 0.2)
			testutil.FFmpegDecode(t, f.Name())
		})
	}
}

// TestWriterOneWritePerCluster checks that the writer buffers a cluster (1 s) and appends it with
// one call: the header, one call per second of media and the last cluster; Close then patches the
// Duration in place with one more call.
func TestWriterOneWritePerCluster(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			f := write(t, tc)
			require.Equal(t, 1, f.Overwrites, "the Duration patch")
			appends := f.Writes - f.Overwrites
			require.LessOrEqual(t, float64(appends), 1+tc.media.Seconds()+1)
			require.GreaterOrEqual(t, float64(appends), 1+math.Floor(tc.media.Seconds()), "clusters of one second")
		})
	}
}

// TestWriterCrashSafe cuts the file after every Write call, as a crash would, and checks that
// what is on disk is a WebM that ffprobe and ffmpeg read without error.
func TestWriterCrashSafe(t *testing.T) {
	testutil.NeedFFmpeg(t)
	if testing.Short() {
		t.Skip("runs ffmpeg on every prefix")
	}
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := write(t, tc)
			require.Greater(t, len(f.Snapshots), 2)
			for i, snap := range f.Snapshots[1:] {
				requireElements(t, snap)
				path := filepath.Join(t.TempDir(), fmt.Sprintf("prefix%d.webm", i+1))
				require.NoError(t, os.WriteFile(path, snap, 0o644))
				p := testutil.FFprobe(t, path)
				require.Equal(t, tc.codecs, p.Codecs(), "prefix %d", i+1)
				testutil.FFmpegDecode(t, path)
			}
		})
	}
}

// TestWriterElementLayout checks the top-level structure: the EBML header, then a Segment of
// unknown size holding Info, Tracks and one whole Cluster per append after the header.
func TestWriterElementLayout(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			f := write(t, tc)
			want := []string{"EBML", "Segment", "Info", "Tracks"}
			require.Equal(t, want, requireElements(t, f.Snapshots[0]), "the first write is the header")
			for range f.Writes - f.Overwrites - 1 {
				want = append(want, "Cluster")
			}
			require.Equal(t, want, requireElements(t, f.Snapshots[len(f.Snapshots)-1]))
		})
	}
}

// Top-level EBML IDs (https://www.matroska.org/technical/elements.html).
const (
	idEBML    = 0x1A45DFA3
	idSegment = 0x18538067
	idInfo    = 0x1549A966
	idTracks  = 0x1654AE6B
	idCluster = 0x1F43B675
)

// requireElements walks b: an EBML header, a Segment of unknown size, and children of the
// Segment that are whole and cover the rest of the file exactly. It returns the element names.
func requireElements(t *testing.T, b []byte) []string {
	t.Helper()
	names := map[uint32]string{idEBML: "EBML", idSegment: "Segment", idInfo: "Info", idTracks: "Tracks", idCluster: "Cluster"}
	var out []string
	for pos := 0; pos < len(b); {
		id, size, n := element(t, b[pos:])
		name, ok := names[id]
		require.True(t, ok, "unexpected element %#x at %d", id, pos)
		out = append(out, name)
		if id == idSegment {
			require.Equal(t, int64(-1), size, "the Segment is written with an unknown size")
			pos += n
			continue
		}
		require.LessOrEqual(t, size, int64(len(b)-pos-n), "%s at %d runs past the end", name, pos)
		pos += n + int(size)
	}
	require.GreaterOrEqual(t, len(out), 4)
	require.Equal(t, []string{"EBML", "Segment", "Info", "Tracks"}, out[:4])
	return out
}

// element reads an element header: ID, size (-1 when unknown) and header length.
func element(t *testing.T, b []byte) (id uint32, size int64, n int) {
	t.Helper()
	require.NotEmpty(t, b)
	idLen := vintLen(b[0])
	require.True(t, idLen <= 4 && len(b) > idLen, "bad element ID")
	for _, c := range b[:idLen] {
		id = id<<8 | uint32(c)
	}
	sizeLen := vintLen(b[idLen])
	require.True(t, sizeLen <= 8 && len(b) >= idLen+sizeLen, "bad element size")
	size = int64(b[idLen] & (0xff >> sizeLen))
	allOnes := size == int64(0xff>>sizeLen)
	for _, c := range b[idLen+1 : idLen+sizeLen] {
		size = size<<8 | int64(c)
		allOnes = allOnes && c == 0xff
	}
	if allOnes {
		size = -1
	}
	return id, size, idLen + sizeLen
}

func vintLen(first byte) int {
	n := 1
	for n <= 8 && first&(0x80>>(n-1)) == 0 {
		n++
	}
	return n
}

// TestNewRefusesTracks checks that codecs WebM cannot carry are refused before anything is
// written.
func TestNewRefusesTracks(t *testing.T) {
	h264 := testutil.H264Frames(t, "240p-h264.h264")
	for _, tc := range []struct {
		name  string
		track segment.Track
	}{
		{"h264", testutil.H264Track(t, h264[0].Data)},
		{"h265", segment.Track{Kind: "video", Codec: "h265", ClockRate: 90000}},
		{"unknown codec", segment.Track{Kind: "video", Codec: "mpeg2", ClockRate: 90000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testutil.NewSnapshotFile(t, "out.webm")
			_, err := webm.New(f, []segment.Track{tc.track}, segment.Options{})
			require.Error(t, err)
			require.Zero(t, f.Writes)
		})
	}
}

// TestWriteSampleUnknownTrack checks that a sample for a track the file does not have is refused.
func TestWriteSampleUnknownTrack(t *testing.T) {
	opus, channels := testutil.OpusPackets(t)
	w, err := webm.New(testutil.NewSnapshotFile(t, "out.webm"), []segment.Track{testutil.OpusTrack(channels)}, segment.Options{})
	require.NoError(t, err)
	require.Error(t, w.WriteSample(segment.Sample{Track: 1, Data: opus[0]}))
	require.Error(t, w.WriteSample(segment.Sample{Track: -1, Data: opus[0]}))
	require.NoError(t, w.Close())
}

// The writer copies samples: a caller that reuses one buffer for every sample writes the same
// file as one that hands over fresh slices.
func TestWriterCopiesSamples(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			want := write(t, tc).Snapshots
			f := testutil.NewSnapshotFile(t, "reused.webm")
			w, err := webm.New(f, tc.tracks, segment.Options{})
			require.NoError(t, err)
			var buf []byte
			for _, s := range tc.samples {
				buf = append(buf[:0], s.Data...)
				s.Data = buf
				require.NoError(t, w.WriteSample(s))
				clear(buf) // scribbled at once, as a reused buffer would be
			}
			require.NoError(t, w.Close())
			require.Equal(t, want[len(want)-1], f.Snapshots[len(f.Snapshots)-1])
		})
	}
}
