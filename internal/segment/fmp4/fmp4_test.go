package fmp4_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/testutil"
)

// The constructor takes any io.WriteSeeker, and the writer is a segment.Writer.
var _ segment.Writer = (*fmp4.Writer)(nil)

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
	h264 := testutil.H264Frames(t, "240p-h264.h264")
	vp9 := testutil.IVFFrames(t, "240p-vp9.ivf")
	opus, channels := testutil.OpusPackets(t)
	return []writerCase{
		{
			name:    "h264+opus",
			tracks:  []segment.Track{testutil.H264Track(t, h264[0].Data), testutil.OpusTrack(channels)},
			samples: testutil.Interleave(h264, 0, opus, 1),
			codecs:  []string{"h264", "opus"},
			media:   max(time.Duration(len(h264))*testutil.ClipFrameDur, time.Duration(len(opus))*testutil.ClipOpusDur),
		},
		{
			name:    "vp9+opus",
			tracks:  []segment.Track{testutil.VP9Track(), testutil.OpusTrack(channels)},
			samples: testutil.Interleave(vp9, 0, opus, 1),
			codecs:  []string{"vp9", "opus"},
			media:   max(time.Duration(len(vp9))*testutil.ClipFrameDur, time.Duration(len(opus))*testutil.ClipOpusDur),
		},
		{
			name:    "opus",
			tracks:  []segment.Track{testutil.OpusTrack(channels)},
			samples: testutil.Interleave(nil, -1, opus, 0),
			codecs:  []string{"opus"},
			media:   time.Duration(len(opus)) * testutil.ClipOpusDur,
		},
	}
}

// write formats the samples of tc into a snapshot file.
func write(t *testing.T, tc writerCase) *testutil.SnapshotFile {
	t.Helper()
	f := testutil.NewSnapshotFile(t, "out.mp4")
	w, err := fmp4.New(f, tc.tracks, segment.Options{})
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
	require.InDelta(t, tc.media, w.Duration(), float64(testutil.ClipFrameDur))
	return f
}

// TestWriterPlayable writes the clips and has ffprobe and ffmpeg read them back.
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

// TestWriterOneWritePerFragment checks that the writer buffers a fragment (1 s) and writes it
// with one call: the init segment, one call per second of media, and the last fragment.
func TestWriterOneWritePerFragment(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			f := write(t, tc)
			require.Zero(t, f.Overwrites, "an fMP4 is only appended to")
			require.LessOrEqual(t, float64(f.Writes), 1+tc.media.Seconds()+1)
			require.GreaterOrEqual(t, float64(f.Writes), 1+math.Floor(tc.media.Seconds()), "fragments of one second")
		})
	}
}

// TestWriterCrashSafe cuts the file after every Write call, as a crash would, and checks that
// what is on disk is a whole fMP4 that ffprobe and ffmpeg read without error.
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
				testutil.RequireFMP4Boxes(t, snap)
				path := filepath.Join(t.TempDir(), fmt.Sprintf("prefix%d.mp4", i+1))
				require.NoError(t, os.WriteFile(path, snap, 0o644))
				p := testutil.FFprobe(t, path)
				require.Equal(t, tc.codecs, p.Codecs(), "prefix %d", i+1)
				testutil.FFmpegDecode(t, path)
			}
		})
	}
}

// TestWriterBoxLayout checks the top-level structure: ftyp, moov, then moof+mdat pairs that
// cover the file exactly, one pair per write after the init segment.
func TestWriterBoxLayout(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			f := write(t, tc)
			boxes := testutil.RequireFMP4Boxes(t, f.Snapshots[len(f.Snapshots)-1])
			want := []string{"ftyp", "moov"}
			for range f.Writes - 1 {
				want = append(want, "moof", "mdat")
			}
			require.Equal(t, want, boxes)
			require.Equal(t, []string{"ftyp", "moov"}, testutil.RequireFMP4Boxes(t, f.Snapshots[0]), "the first write is the init segment")
		})
	}
}

// TestNewRefusesTracks checks that codecs MP4 cannot carry, or tracks without the configuration
// their sample entry needs, are refused before anything is written.
func TestNewRefusesTracks(t *testing.T) {
	vp8 := testutil.IVFFrames(t, "240p-vp8.ivf")
	for _, tc := range []struct {
		name  string
		track segment.Track
	}{
		{"vp8", testutil.VP8Track(t, vp8[0].Data)},
		{"h264 without parameter sets", segment.Track{Kind: "video", Codec: "h264", ClockRate: 90000}},
		{"h265 without parameter sets", segment.Track{Kind: "video", Codec: "h265", ClockRate: 90000}},
		{"av1 without sequence header", segment.Track{Kind: "video", Codec: "av1", ClockRate: 90000}},
		{"unknown codec", segment.Track{Kind: "video", Codec: "mpeg2", ClockRate: 90000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testutil.NewSnapshotFile(t, "out.mp4")
			_, err := fmp4.New(f, []segment.Track{tc.track}, segment.Options{})
			require.Error(t, err)
			require.Zero(t, f.Writes)
		})
	}
}

// TestWriteSampleUnknownTrack checks that a sample for a track the file does not have is refused.
func TestWriteSampleUnknownTrack(t *testing.T) {
	opus, channels := testutil.OpusPackets(t)
	w, err := fmp4.New(testutil.NewSnapshotFile(t, "out.mp4"), []segment.Track{testutil.OpusTrack(channels)}, segment.Options{})
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
			f := testutil.NewSnapshotFile(t, "reused.mp4")
			w, err := fmp4.New(f, tc.tracks, segment.Options{})
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

// Writers that borrow their fragment buffer from a shared pool write the same files.
func TestWriterWithSharedBuffers(t *testing.T) {
	var pool segment.BufferPool
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			want := write(t, tc).Snapshots
			a, b := testutil.NewSnapshotFile(t, "a.mp4"), testutil.NewSnapshotFile(t, "b.mp4")
			wa, err := fmp4.New(a, tc.tracks, segment.Options{Buffers: &pool})
			require.NoError(t, err)
			wb, err := fmp4.New(b, tc.tracks, segment.Options{Buffers: &pool})
			require.NoError(t, err)
			for _, s := range tc.samples { // interleaved, as recordings flush at any time
				require.NoError(t, wa.WriteSample(s))
				require.NoError(t, wb.WriteSample(s))
			}
			require.NoError(t, wa.Close())
			require.NoError(t, wb.Close())
			require.Equal(t, want[len(want)-1], a.Snapshots[len(a.Snapshots)-1])
			require.Equal(t, want[len(want)-1], b.Snapshots[len(b.Snapshots)-1])
		})
	}
}
