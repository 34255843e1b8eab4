package webm_test

import (
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/webm"
	"github.com/vigilrec/vigil/internal/testutil"
)

var _ segment.Writer = (*webm.Writer)(nil)

func newWriter(w io.WriteSeeker, tracks []segment.Track, opts segment.Options) (segment.Writer, error) {
	return webm.New(w, tracks, opts)
}

// writerCases are about 4 s of the built-in clips: the video codecs WebM carries, with Opus.
func writerCases(t *testing.T) []testutil.WriterCase { return testutil.ClipCases(t, "vp8", "vp9") }

// write formats the samples of tc into a snapshot file.
func write(t *testing.T, tc testutil.WriterCase) *testutil.SnapshotFile {
	t.Helper()
	f, w := testutil.WriteCase(t, newWriter, "out.webm", tc)
	end, err := f.Seek(0, io.SeekCurrent)
	require.NoError(t, err)
	require.Equal(t, w.Bytes(), end, "Close leaves the file offset at the end")
	return f
}

// TestWriterPlayable writes the clips and has ffprobe and ffmpeg read them back; the Duration
// patched in by Close is the media time.
func TestWriterPlayable(t *testing.T) { testutil.CheckPlayable(t, newWriter, "webm", writerCases(t)) }

// TestWriterCrashSafe cuts the file after every Write call, as a crash would, and checks that
// what is on disk is a WebM that ffprobe and ffmpeg read without error.
func TestWriterCrashSafe(t *testing.T) {
	testutil.CheckCrashSafe(t, newWriter, "webm", writerCases(t), func(t testing.TB, b []byte) { requireElements(t, b) })
}

// TestWriterOneWritePerCluster checks that the writer buffers a cluster (1 s) and appends it with
// one call: the header, one call per second of media and the last cluster; Close then appends the
// Cues and writes in place the SeekHead and the Duration.
func TestWriterOneWritePerCluster(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			f := write(t, tc)
			require.Equal(t, 2, f.Overwrites, "the SeekHead and the Duration")
			appends := f.Writes - f.Overwrites - 1 // the Cues
			require.LessOrEqual(t, float64(appends), 1+tc.Media.Seconds()+1)
			require.GreaterOrEqual(t, float64(appends), 1+math.Floor(tc.Media.Seconds()), "clusters of one second")
		})
	}
}

// TestWriterElementLayout checks the top-level structure: the EBML header, then a Segment of
// unknown size holding room for the SeekHead (a Void), Info, Tracks and one whole Cluster per
// append after the header; once closed, the SeekHead in that room and the Cues at the end.
func TestWriterElementLayout(t *testing.T) {
	for _, tc := range writerCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			f := write(t, tc)
			require.Equal(t, []string{"EBML", "Segment", "Void", "Info", "Tracks"}, requireElements(t, f.Snapshots[0]),
				"the first write is the header")
			want := []string{"EBML", "Segment", "SeekHead", "Void", "Info", "Tracks"}
			for range f.Writes - f.Overwrites - 2 {
				want = append(want, "Cluster")
			}
			want = append(want, "Cues")
			require.Equal(t, want, requireElements(t, f.Last()))
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
	idVoid    = 0xEC
	idSeek    = 0x114D9B74
	idCues    = 0x1C53BB6B
)

// requireElements walks b: an EBML header, a Segment of unknown size, and children of the
// Segment that are whole and cover the rest of the file exactly. It returns the element names.
func requireElements(t testing.TB, b []byte) []string {
	t.Helper()
	names := map[uint32]string{idEBML: "EBML", idSegment: "Segment", idInfo: "Info", idTracks: "Tracks", idCluster: "Cluster",
		idVoid: "Void", idSeek: "SeekHead", idCues: "Cues"}
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
	require.GreaterOrEqual(t, len(out), 5)
	require.Equal(t, []string{"EBML", "Segment"}, out[:2])
	require.Contains(t, out, "Info")
	require.Contains(t, out, "Tracks")
	return out
}

// element reads an element header: ID, size (-1 when unknown) and header length.
func element(t testing.TB, b []byte) (id uint32, size int64, n int) {
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
	testutil.CheckRefusesTracks(t, newWriter, map[string]segment.Track{
		"h264":          testutil.H264Track(t, h264[0].Data),
		"h265":          {Kind: "video", Codec: "h265", ClockRate: 90000},
		"unknown codec": {Kind: "video", Codec: "mpeg2", ClockRate: 90000},
	})
}

// TestWriteSampleUnknownTrack checks that a sample for a track the file does not have is refused.
func TestWriteSampleUnknownTrack(t *testing.T) { testutil.CheckRefusesUnknownTrack(t, newWriter) }

// The writer copies samples: a caller that reuses one buffer for every sample writes the same
// file as one that hands over fresh slices.
func TestWriterCopiesSamples(t *testing.T) { testutil.CheckCopiesSamples(t, newWriter, writerCases(t)) }

// Writers that borrow their cluster buffer from a shared pool write the same files.
func TestWriterWithSharedBuffers(t *testing.T) {
	testutil.CheckSharedBuffers(t, newWriter, writerCases(t))
}
