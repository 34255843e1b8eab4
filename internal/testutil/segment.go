package testutil

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/segment"
)

// NewWriter is a container's constructor (fmp4.New, webm.New) returning a segment.Writer.
type NewWriter func(w io.WriteSeeker, tracks []segment.Track, opts segment.Options) (segment.Writer, error)

// WriterCase is what a container writer test writes: tracks and their samples in time order.
type WriterCase struct {
	Name    string
	Tracks  []segment.Track
	Samples []segment.Sample
	// Codecs is what ffprobe names the tracks, in order.
	Codecs []string
	// Media is the media time written: the end of the longest track.
	Media time.Duration
}

// ClipCases are about 4 s of the built-in clips, video at 30 fps and audio in 20 ms packets: each
// of videos ("h264", "vp8", "vp9") with Opus, then Opus alone.
func ClipCases(t testing.TB, videos ...string) []WriterCase {
	t.Helper()
	opus, channels := OpusPackets(t)
	audioEnd := time.Duration(len(opus)) * ClipOpusDur
	var out []WriterCase
	for _, v := range videos {
		var frames []Frame
		var track segment.Track
		switch v {
		case "h264":
			frames = H264Frames(t, "240p-h264.h264")
			track = H264Track(t, frames[0].Data)
		case "vp8":
			frames = IVFFrames(t, "240p-vp8.ivf")
			track = VP8Track(t, frames[0].Data)
		case "vp9":
			frames = IVFFrames(t, "240p-vp9.ivf")
			track = VP9Track()
		default:
			t.Fatalf("no clip of %s", v)
		}
		out = append(out, WriterCase{
			Name: v + "+opus", Tracks: []segment.Track{track, OpusTrack(channels)},
			Samples: Interleave(frames, 0, opus, 1), Codecs: []string{v, "opus"},
			Media: max(time.Duration(len(frames))*ClipFrameDur, audioEnd),
		})
	}
	return append(out, WriterCase{Name: "opus", Tracks: []segment.Track{OpusTrack(channels)},
		Samples: Interleave(nil, -1, opus, 0), Codecs: []string{"opus"}, Media: audioEnd})
}

// WriteCase formats the samples of tc into a snapshot file named name, handing every sample over
// in one buffer scribbled after each call (the writer must copy what it keeps), and checks what
// every writer promises of Close, Bytes and Duration.
func WriteCase(t testing.TB, newW NewWriter, name string, tc WriterCase) (*SnapshotFile, segment.Writer) {
	t.Helper()
	f := NewSnapshotFile(t, name)
	w, err := newW(f, tc.Tracks, segment.Options{})
	require.NoError(t, err)
	var scratch []byte
	for _, s := range tc.Samples {
		scratch = append(scratch[:0], s.Data...)
		s.Data = scratch
		require.NoError(t, w.WriteSample(s))
		clear(scratch)
	}
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close is idempotent")
	require.ErrorIs(t, w.WriteSample(tc.Samples[0]), segment.ErrClosed)
	require.Equal(t, int64(len(f.Last())), w.Bytes())
	require.InDelta(t, tc.Media, w.Duration(), float64(ClipFrameDur))
	return f, w
}

// CheckPlayable writes each case and has ffprobe and ffmpeg read the file back: the codecs, the
// duration, and a decode without errors.
func CheckPlayable(t *testing.T, newW NewWriter, ext string, cases []WriterCase) {
	NeedFFmpeg(t)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			f, _ := WriteCase(t, newW, "out."+ext, tc)
			p := FFprobe(t, f.Name())
			require.Equal(t, tc.Codecs, p.Codecs())
			require.InDelta(t, tc.Media.Seconds(), p.Duration, 0.2)
			FFmpegDecode(t, f.Name())
		})
	}
}

// CheckCrashSafe cuts the file after every Write call, as a crash would, and checks that what is
// on disk has the container's whole layout (layout fails the test otherwise) and that ffprobe and
// ffmpeg read it without error.
func CheckCrashSafe(t *testing.T, newW NewWriter, ext string, cases []WriterCase, layout func(testing.TB, []byte)) {
	NeedFFmpeg(t)
	if testing.Short() {
		t.Skip("runs ffmpeg on every prefix")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			f, _ := WriteCase(t, newW, "out."+ext, tc)
			require.Greater(t, len(f.Snapshots), 2)
			for i, snap := range f.Snapshots[1:] {
				layout(t, snap)
				path := filepath.Join(t.TempDir(), fmt.Sprintf("prefix%d.%s", i+1, ext))
				require.NoError(t, os.WriteFile(path, snap, 0o644))
				p := FFprobe(t, path)
				require.Equal(t, tc.Codecs, p.Codecs(), "prefix %d", i+1)
				FFmpegDecode(t, path)
			}
		})
	}
}

// CheckRefusesTracks checks that each of tracks is refused before anything is written.
func CheckRefusesTracks(t *testing.T, newW NewWriter, tracks map[string]segment.Track) {
	for name, track := range tracks {
		t.Run(name, func(t *testing.T) {
			f := NewSnapshotFile(t, "out")
			_, err := newW(f, []segment.Track{track}, segment.Options{})
			require.Error(t, err)
			require.Zero(t, f.Writes)
		})
	}
}

// CheckRefusesUnknownTrack checks that a sample for a track the file does not have is refused.
func CheckRefusesUnknownTrack(t *testing.T, newW NewWriter) {
	opus, channels := OpusPackets(t)
	w, err := newW(NewSnapshotFile(t, "out"), []segment.Track{OpusTrack(channels)}, segment.Options{})
	require.NoError(t, err)
	require.Error(t, w.WriteSample(segment.Sample{Track: 1, Data: opus[0]}))
	require.Error(t, w.WriteSample(segment.Sample{Track: -1, Data: opus[0]}))
	require.NoError(t, w.Close())
}

// CheckCopiesSamples checks that a writer given fresh slices and one given a single buffer,
// scribbled over after every call, write the same file.
func CheckCopiesSamples(t *testing.T, newW NewWriter, cases []WriterCase) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			f := NewSnapshotFile(t, "fresh")
			w, err := newW(f, tc.Tracks, segment.Options{})
			require.NoError(t, err)
			for _, s := range tc.Samples {
				s.Data = append([]byte(nil), s.Data...)
				require.NoError(t, w.WriteSample(s))
			}
			require.NoError(t, w.Close())
			reused, _ := WriteCase(t, newW, "reused", tc)
			require.Equal(t, f.Last(), reused.Last())
		})
	}
}

// CheckSharedBuffers checks that two writers borrowing their buffers from one pool, fed in turn,
// write the same files as a writer of their own.
func CheckSharedBuffers(t *testing.T, newW NewWriter, cases []WriterCase) {
	var pool segment.BufferPool
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			want, _ := WriteCase(t, newW, "own", tc)
			a, b := NewSnapshotFile(t, "a"), NewSnapshotFile(t, "b")
			wa, err := newW(a, tc.Tracks, segment.Options{Buffers: &pool})
			require.NoError(t, err)
			wb, err := newW(b, tc.Tracks, segment.Options{Buffers: &pool})
			require.NoError(t, err)
			for _, s := range tc.Samples { // interleaved, as recordings flush at any time
				require.NoError(t, wa.WriteSample(s))
				require.NoError(t, wb.WriteSample(s))
			}
			require.NoError(t, wa.Close())
			require.NoError(t, wb.Close())
			require.Equal(t, want.Last(), a.Last())
			require.Equal(t, want.Last(), b.Last())
		})
	}
}
