package fmp4_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"testing"
	"time"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/testutil"
)

// The constructor takes any io.WriteSeeker, and the writer is a segment.Writer.
var _ segment.Writer = (*fmp4.Writer)(nil)

func newWriter(w io.WriteSeeker, tracks []segment.Track, opts segment.Options) (segment.Writer, error) {
	return fmp4.New(w, tracks, opts)
}

// writerCases are about 4 s of the built-in clips: the video codecs MP4 carries, with Opus.
func writerCases(t *testing.T) []testutil.WriterCase { return testutil.ClipCases(t, "h264", "vp9") }

// write formats the samples of tc into a snapshot file.
func write(t *testing.T, tc testutil.WriterCase) *testutil.SnapshotFile {
	t.Helper()
	f, _ := testutil.WriteCase(t, newWriter, "out.mp4", tc)
	return f
}

// TestWriterPlayable writes the clips and has ffprobe and ffmpeg read them back.
func TestWriterPlayable(t *testing.T) { testutil.CheckPlayable(t, newWriter, "mp4", writerCases(t)) }

// TestWriterCrashSafe cuts the file after every Write call, as a crash would, and checks that
// what is on disk is a whole fMP4 that ffprobe and ffmpeg read without error.
func TestWriterCrashSafe(t *testing.T) {
	testutil.CheckCrashSafe(t, newWriter, "mp4", writerCases(t),
		func(t testing.TB, b []byte) { testutil.RequireFMP4Boxes(t, b) })
}

// TestWriterOneWritePerFragment checks that the writer buffers a fragment (1 s) and writes it
// with one call: the init segment, one call per second of media, and the last fragment.
func TestWriterOneWritePerFragment(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			f := write(t, tc)
			require.Zero(t, f.Overwrites, "an fMP4 is only appended to")
			require.LessOrEqual(t, float64(f.Writes), 1+tc.Media.Seconds()+1)
			require.GreaterOrEqual(t, float64(f.Writes), 1+math.Floor(tc.Media.Seconds()), "fragments of one second")
		})
	}
}

// TestWriterBoxLayout checks the top-level structure: ftyp, moov, then moof+mdat pairs that
// cover the file exactly, one pair per write after the init segment.
func TestWriterBoxLayout(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
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
	testutil.CheckRefusesTracks(t, newWriter, map[string]segment.Track{
		"vp8":                         testutil.VP8Track(t, vp8[0].Data),
		"h264 without parameter sets": {Kind: "video", Codec: "h264", ClockRate: 90000},
		"h265 without parameter sets": {Kind: "video", Codec: "h265", ClockRate: 90000},
		"av1 without sequence header": {Kind: "video", Codec: "av1", ClockRate: 90000},
		"unknown codec":               {Kind: "video", Codec: "mpeg2", ClockRate: 90000},
	})
}

// TestWriteSampleUnknownTrack checks that a sample for a track the file does not have is refused.
func TestWriteSampleUnknownTrack(t *testing.T) { testutil.CheckRefusesUnknownTrack(t, newWriter) }

// The writer copies samples: a caller that reuses one buffer for every sample writes the same
// file as one that hands over fresh slices.
func TestWriterCopiesSamples(t *testing.T) { testutil.CheckCopiesSamples(t, newWriter, writerCases(t)) }

// Writers that borrow their fragment buffer from a shared pool write the same files.
func TestWriterWithSharedBuffers(t *testing.T) {
	testutil.CheckSharedBuffers(t, newWriter, writerCases(t))
}

// A duration known in advance is in the header (mvhd, and mehd for the fragments), and the
// writer never seeks back.
func TestDurationInHeader(t *testing.T) {
	testutil.NeedFFmpeg(t)
	tc := testutil.ClipCases(t, "h264")[0]
	f := testutil.NewSnapshotFile(t, "known.mp4")
	w, err := fmp4.New(f, tc.Tracks, segment.Options{Duration: 3500 * time.Millisecond})
	require.NoError(t, err)
	head := append([]byte(nil), f.Last()...)
	require.Equal(t, []string{"ftyp", "moov"}, testutil.RequireFMP4Boxes(t, head))
	var init mcfmp4.Init
	require.NoError(t, init.Unmarshal(bytes.NewReader(head)), "the header still parses")
	mvhd := bytes.Index(head, []byte("mvhd")) - 4
	require.Equal(t, uint32(3500), binary.BigEndian.Uint32(head[mvhd+24:]), "mvhd duration in ms")
	mehd := bytes.Index(head, []byte("mehd")) - 4
	require.Positive(t, mehd)
	require.Equal(t, uint32(3500), binary.BigEndian.Uint32(head[mehd+12:]), "mehd duration in ms")
	for _, s := range tc.Samples {
		if s.PTS < 3500*time.Millisecond {
			require.NoError(t, w.WriteSample(s))
		}
	}
	require.NoError(t, w.CloseAt(3500*time.Millisecond))
	require.InDelta(t, 3.5, testutil.FFprobe(t, f.Name()).Duration, 0.05)
	testutil.FFmpegDecode(t, f.Name())
	require.Zero(t, f.Overwrites, "never seeks back")
}

// vectorFile takes a fragment as a list of buffers, as storage.File does with writev.
type vectorFile struct {
	*testutil.SnapshotFile
	calls, pieces int
}

func (f *vectorFile) WriteBuffers(bufs [][]byte) (int64, error) {
	f.calls++
	f.pieces += len(bufs)
	n, err := f.Write(bytes.Join(bufs, nil))
	return int64(n), err
}

// A file that takes vectored writes gets every fragment as its head and the samples' pieces in
// one call, and the same bytes as one that takes one buffer.
func TestWriterVectoredWrites(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			want, _ := testutil.WriteCase(t, newWriter, "plain.mp4", tc)
			f := &vectorFile{SnapshotFile: testutil.NewSnapshotFile(t, "vector.mp4")}
			w, err := fmp4.New(f, tc.Tracks, segment.Options{Buffers: &segment.BufferPool{}})
			require.NoError(t, err)
			for _, s := range tc.Samples {
				require.NoError(t, w.WriteSample(s))
			}
			require.NoError(t, w.Close())
			require.Equal(t, want.Last(), f.Last())
			require.Equal(t, want.Writes-1, f.calls, "every fragment in one vectored write, the init segment alone")
			require.GreaterOrEqual(t, f.pieces, 2*f.calls, "the head, then the samples' pieces (not a copy)")
			require.Equal(t, int64(len(f.Last())), w.Bytes())
		})
	}
}
