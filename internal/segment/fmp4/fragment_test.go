package fmp4

import (
	"bytes"
	"testing"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/stretchr/testify/require"
)

// fragmentCases feed the byte-equality test and the benchmark.
func fragmentCases() []struct {
	name   string
	tracks []fragmentTrack
} {
	video := func(n int, key bool) fragmentTrack {
		t := fragmentTrack{id: 1, baseTime: 90000 * 7}
		for i := range n {
			size := 3000 + i*17
			t.samples = append(t.samples, sampleMeta{duration: 3000, size: uint32(size), nonSync: !(key && i == 0)})
			t.data = append(t.data, bytes.Repeat([]byte{byte(i)}, size)...)
		}
		return t
	}
	audio := fragmentTrack{id: 2, baseTime: 1 << 33}
	for i := range 50 {
		audio.samples = append(audio.samples, sampleMeta{duration: 960, size: 160})
		audio.data = append(audio.data, bytes.Repeat([]byte{byte(i + 100)}, 160)...)
	}
	return []struct {
		name   string
		tracks []fragmentTrack
	}{
		{"video with keyframe and audio", []fragmentTrack{video(30, true), audio}},
		{"video without keyframe", []fragmentTrack{video(30, false)}},
		{"only sync samples (audio)", []fragmentTrack{audio}},
		{"one sample", []fragmentTrack{video(1, true)}},
	}
}

// Our moof+mdat builder writes exactly the bytes of mediacommon's Part.Marshal.
func TestAppendFragmentMatchesMediacommon(t *testing.T) {
	for _, tc := range fragmentCases() {
		t.Run(tc.name, func(t *testing.T) {
			part := mcfmp4.Part{SequenceNumber: 42}
			for _, tr := range tc.tracks {
				pt := &mcfmp4.PartTrack{ID: int(tr.id), BaseTime: tr.baseTime}
				off := 0
				for _, s := range tr.samples {
					pt.Samples = append(pt.Samples, &mcfmp4.Sample{Duration: s.duration, IsNonSyncSample: s.nonSync,
						Payload: tr.data[off : off+int(s.size)]})
					off += int(s.size)
				}
				part.Tracks = append(part.Tracks, pt)
			}
			var want seekablebuffer.Buffer
			require.NoError(t, part.Marshal(&want))
			prefix := []byte("earlier fragment")
			got := appendFragment(append([]byte(nil), prefix...), 42, tc.tracks)
			require.Equal(t, prefix, got[:len(prefix)])
			require.Equal(t, want.Bytes(), got[len(prefix):])
		})
	}
}

func BenchmarkAppendFragment(b *testing.B) {
	tracks := fragmentCases()[0].tracks
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		out = appendFragment(out[:0], 1, tracks)
	}
	b.SetBytes(int64(len(out)))
}

// BenchmarkMediacommonPartMarshal is the marshaller appendFragment replaces, for comparison.
func BenchmarkMediacommonPartMarshal(b *testing.B) {
	tr := fragmentCases()[0].tracks
	part := mcfmp4.Part{SequenceNumber: 1}
	for _, t := range tr {
		pt := &mcfmp4.PartTrack{ID: int(t.id), BaseTime: t.baseTime}
		off := 0
		for _, s := range t.samples {
			pt.Samples = append(pt.Samples, &mcfmp4.Sample{Duration: s.duration, IsNonSyncSample: s.nonSync,
				Payload: t.data[off : off+int(s.size)]})
			off += int(s.size)
		}
		part.Tracks = append(part.Tracks, pt)
	}
	b.ReportAllocs()
	for b.Loop() {
		var buf seekablebuffer.Buffer
		if err := part.Marshal(&buf); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(buf.Len()))
	}
}
