package storage_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/segment/webm"
	"github.com/vigilrec/vigil/internal/storage"
	"github.com/vigilrec/vigil/internal/testutil"
)

// crashCase is a segment written by a real writer and the media it holds.
type crashCase struct {
	name      string
	container string
	codecs    []string
	write     func(t *testing.T) *testutil.SnapshotFile
}

func crashCases() []crashCase {
	return []crashCase{
		{"h264+opus", "mp4", []string{"h264", "opus"}, func(t *testing.T) *testutil.SnapshotFile {
			video := testutil.H264Frames(t, "240p-h264.h264")
			audio, channels := testutil.OpusPackets(t)
			f := testutil.NewSnapshotFile(t, "w.mp4")
			w, err := fmp4.New(f, []segment.Track{testutil.H264Track(t, video[0].Data), testutil.OpusTrack(channels)}, segment.Options{})
			require.NoError(t, err)
			writeAll(t, w, testutil.Interleave(video, 0, audio, 1))
			return f
		}},
		{"vp8+opus", "webm", []string{"vp8", "opus"}, func(t *testing.T) *testutil.SnapshotFile {
			video := testutil.IVFFrames(t, "240p-vp8.ivf")
			audio, channels := testutil.OpusPackets(t)
			f := testutil.NewSnapshotFile(t, "w.webm")
			w, err := webm.New(f, []segment.Track{testutil.VP8Track(t, video[0].Data), testutil.OpusTrack(channels)}, segment.Options{})
			require.NoError(t, err)
			writeAll(t, w, testutil.Interleave(video, 0, audio, 1))
			return f
		}},
		{"vp9", "mp4", []string{"vp9"}, func(t *testing.T) *testutil.SnapshotFile {
			f := testutil.NewSnapshotFile(t, "w.mp4")
			w, err := fmp4.New(f, []segment.Track{testutil.VP9Track()}, segment.Options{})
			require.NoError(t, err)
			writeAll(t, w, testutil.Interleave(testutil.IVFFrames(t, "240p-vp9.ivf"), 0, nil, -1))
			return f
		}},
	}
}

func writeAll(t *testing.T, w segment.Writer, samples []segment.Sample) {
	t.Helper()
	for _, s := range samples {
		require.NoError(t, w.WriteSample(s))
	}
	require.NoError(t, w.Close())
}

// TestRecoverCutsTornFragment leaves a segment as a crash in the middle of writing its last
// fragment (fMP4) or cluster (WebM) would, and checks that Recover cuts exactly the torn part,
// patches the WebM Duration, and renames the file to something ffmpeg plays without error.
func TestRecoverCutsTornFragment(t *testing.T) {
	for _, tc := range crashCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.write(t)
			// The crash: three fragments of one second are whole on disk, and the fourth was
			// half written. The header is as first written (WebM: no Duration yet).
			const kept = 3
			whole, next := f.Snapshots[kept], f.Snapshots[kept+1]
			cut := len(whole) + (len(next)-len(whole))/2
			torn := next[:cut]

			s := newStore(t, storage.FsyncClose)
			part := filepath.Join(s.Dir(), "cam_1."+tc.container+storage.PartSuffix)
			require.NoError(t, os.WriteFile(part, torn, 0o644))
			rec, err := s.Recover()
			require.NoError(t, err)
			require.Len(t, rec, 1)
			r := rec[0]
			require.Equal(t, filepath.Join(s.Dir(), "cam_1."+tc.container), r.Path)
			require.Equal(t, int64(cut-len(whole)), r.Cut)
			if tc.container == "webm" {
				// What Close would have added: the Cues at the end, the SeekHead in its room.
				got, err := os.ReadFile(r.Path)
				require.NoError(t, err)
				require.Greater(t, r.Bytes, int64(len(whole)))
				require.Equal(t, []byte{0x1C, 0x53, 0xBB, 0x6B}, got[len(whole):len(whole)+4], "Cues after the last whole cluster")
				require.Positive(t, bytes.Index(got[:200], []byte{0x11, 0x4D, 0x9B, 0x74}), "a SeekHead in the header")
			} else {
				require.Equal(t, int64(len(whole)), r.Bytes)
			}
			require.NoFileExists(t, part)
			st, err := os.Stat(r.Path)
			require.NoError(t, err)
			require.Equal(t, r.Bytes, st.Size())
			require.InDelta(t, float64(kept), r.Duration.Seconds(), 0.1, "recovered duration %v", r.Duration)
			require.InDelta(t, r.Duration.Seconds(), storage.Duration(r.Path).Seconds(), 0.05)

			testutil.NeedFFmpeg(t)
			p := testutil.FFprobe(t, r.Path)
			require.Equal(t, tc.codecs, p.Codecs())
			require.InDelta(t, r.Duration.Seconds(), p.Duration, 0.2)
			testutil.FFmpegDecode(t, r.Path)
		})
	}
}

// TestRecoverWholeFile checks that a file that crashed right after a whole fragment loses
// nothing, and that the name of a finished file is never taken.
func TestRecoverWholeFile(t *testing.T) {
	for _, tc := range crashCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.write(t)
			whole := f.Snapshots[len(f.Snapshots)-1]
			s := newStore(t, storage.FsyncNever)
			name := "cam_1." + tc.container
			require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), name), []byte("finished"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), name+storage.PartSuffix), whole, 0o644))
			rec, err := s.Recover()
			require.NoError(t, err)
			require.Len(t, rec, 1)
			require.Equal(t, filepath.Join(s.Dir(), "cam_1_2."+tc.container), rec[0].Path)
			require.Equal(t, int64(len(whole)), rec[0].Bytes)
			require.Zero(t, rec[0].Cut)
			require.InDelta(t, 4.0, rec[0].Duration.Seconds(), 0.1)
			b, err := os.ReadFile(filepath.Join(s.Dir(), name))
			require.NoError(t, err)
			require.Equal(t, "finished", string(b))
		})
	}
}

// TestRecoverWithoutHeader checks that a file cut inside its header, which holds nothing
// playable, is removed and reported.
func TestRecoverWithoutHeader(t *testing.T) {
	for _, tc := range crashCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.write(t)
			s := newStore(t, storage.FsyncNever)
			part := filepath.Join(s.Dir(), "x."+tc.container+storage.PartSuffix)
			require.NoError(t, os.WriteFile(part, f.Snapshots[0][:len(f.Snapshots[0])/2], 0o644))
			rec, err := s.Recover()
			require.Error(t, err)
			require.Empty(t, rec)
			require.Empty(t, names(t, s.Dir()))
		})
	}
}

// TestRecoverUnknownContainer checks that a part file of another format is reported and left
// alone, and does not stop the others from being recovered.
func TestRecoverUnknownContainer(t *testing.T) {
	f := crashCases()[0].write(t)
	s := newStore(t, storage.FsyncNever)
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "x.ts"+storage.PartSuffix), []byte("data"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "y.mp4"+storage.PartSuffix), f.Snapshots[1], 0o644))
	rec, err := s.Recover()
	require.ErrorContains(t, err, "x.ts.part")
	require.Len(t, rec, 1)
	require.Equal(t, filepath.Join(s.Dir(), "y.mp4"), rec[0].Path)
	require.InDelta(t, 1.0, rec[0].Duration.Seconds(), 0.1)
	require.ElementsMatch(t, []string{"x.ts.part", "y.mp4"}, names(t, s.Dir()))
}

func TestDurationOfFinishedFiles(t *testing.T) {
	for _, tc := range crashCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.write(t)
			path := filepath.Join(t.TempDir(), "x."+tc.container)
			require.NoError(t, os.WriteFile(path, f.Snapshots[len(f.Snapshots)-1], 0o644))
			require.InDelta(t, 4.0, storage.Duration(path).Seconds(), 0.1)
		})
	}
	require.Zero(t, storage.Duration(filepath.Join(t.TempDir(), "missing.mp4")))
	other := filepath.Join(t.TempDir(), "x.txt")
	require.NoError(t, os.WriteFile(other, []byte("text"), 0o644))
	require.Equal(t, time.Duration(0), storage.Duration(other))
}

// A ".part" symlink planted in the directory is never repaired through: its target, outside the
// directory, keeps every byte, and the link stays as it was.
func TestRecoverIgnoresSymlinks(t *testing.T) {
	f := crashCases()[0].write(t)
	s := newStore(t, storage.FsyncNever)
	outside := filepath.Join(t.TempDir(), "precious.mp4")
	torn := f.Snapshots[1][:len(f.Snapshots[1])-7] // a torn fragment a repair would cut
	require.NoError(t, os.WriteFile(outside, torn, 0o644))
	link := filepath.Join(s.Dir(), "evil.mp4"+storage.PartSuffix)
	require.NoError(t, os.Symlink(outside, link))
	rec, err := s.Recover()
	require.NoError(t, err)
	require.Empty(t, rec)
	got, err := os.ReadFile(outside)
	require.NoError(t, err)
	require.Equal(t, torn, got, "the target was changed")
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	require.Equal(t, os.ModeSymlink, fi.Mode().Type())

	_, err = storage.OpenRegular(link, os.O_RDONLY)
	require.ErrorIs(t, err, storage.ErrNotRegular)
	r, err := storage.OpenRegular(outside, os.O_RDONLY)
	require.NoError(t, err)
	r.Close()
}
