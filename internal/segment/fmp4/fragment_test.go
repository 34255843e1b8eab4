package fmp4

import (
	"bytes"
	"testing"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/segment"
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
			t.data = append(t.data, bytes.Repeat([]byte{byte(i)}, size))
			t.size += size
		}
		return t
	}
	audio := fragmentTrack{id: 2, baseTime: 1 << 33}
	for i := range 50 {
		audio.samples = append(audio.samples, sampleMeta{duration: 960, size: 160})
		audio.data = append(audio.data, bytes.Repeat([]byte{byte(i + 100)}, 160))
		audio.size += 160
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
			part := mediacommonPart(42, tc.tracks)
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
	part := mediacommonPart(1, fragmentCases()[0].tracks)
	b.ReportAllocs()
	for b.Loop() {
		var buf seekablebuffer.Buffer
		if err := part.Marshal(&buf); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(buf.Len()))
	}
}

// mediacommonPart is the same fragment as mediacommon describes it.
func mediacommonPart(seq uint32, tracks []fragmentTrack) mcfmp4.Part {
	part := mcfmp4.Part{SequenceNumber: seq}
	for _, t := range tracks {
		pt := &mcfmp4.PartTrack{ID: int(t.id), BaseTime: t.baseTime}
		data := bytes.Join(t.data, nil)
		off := 0
		for _, s := range t.samples {
			pt.Samples = append(pt.Samples, &mcfmp4.Sample{Duration: s.duration, IsNonSyncSample: s.nonSync,
				Payload: data[off : off+int(s.size)]})
			off += int(s.size)
		}
		part.Tracks = append(part.Tracks, pt)
	}
	return part
}

// Sample bytes cross chunk boundaries, and keeping a tail (the held sample) keeps its bytes and
// gives the other chunks back.
func TestSampleData(t *testing.T) {
	var pool segment.BufferPool
	d := sampleData{pool: &pool}
	var want []byte
	for i := range 100 {
		b := bytes.Repeat([]byte{byte(i)}, 1000+i*37)
		d.append(b)
		want = append(want, b...)
	}
	require.Equal(t, want, bytes.Join(d.pieces(nil, d.n), nil))
	require.Equal(t, want[:5000], bytes.Join(d.pieces(nil, 5000), nil))
	for _, k := range []int{segment.ChunkSize + 123, 700, 0} {
		d.keepTail(k)
		want = want[len(want)-k:]
		require.Equal(t, want, bytes.Join(d.pieces(nil, d.n), nil))
		require.Len(t, d.chunks, (k+segment.ChunkSize-1)/segment.ChunkSize, "chunks beyond the kept bytes go back")
	}
}
