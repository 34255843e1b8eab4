package fmp4

import (
	"testing"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/stretchr/testify/require"
)

// appendFragment writes what mediacommon's Part.Marshal writes, byte for byte.
func TestAppendFragmentMatchesMediacommon(t *testing.T) {
	sample := func(n int, nonSync bool, d uint32) *mcfmp4.Sample {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		return &mcfmp4.Sample{Duration: d, IsNonSyncSample: nonSync, Payload: p}
	}
	for _, tc := range []struct {
		name   string
		tracks []*mcfmp4.PartTrack
	}{
		{"video and audio", []*mcfmp4.PartTrack{
			{ID: 1, BaseTime: 90000 * 3600 * 30, Samples: []*mcfmp4.Sample{sample(5000, false, 3000), sample(700, true, 3000), sample(0, true, 2999)}},
			{ID: 2, BaseTime: 48000, Samples: []*mcfmp4.Sample{sample(120, false, 960), sample(130, false, 960)}},
		}},
		{"audio only", []*mcfmp4.PartTrack{{ID: 1, Samples: []*mcfmp4.Sample{sample(80, false, 960)}}}},
		{"second track only", []*mcfmp4.PartTrack{{ID: 2, BaseTime: 7, Samples: []*mcfmp4.Sample{sample(9, true, 1)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want seekablebuffer.Buffer
			require.NoError(t, mcfmp4.Part{SequenceNumber: 42, Tracks: tc.tracks}.Marshal(&want))
			got := appendFragment([]byte("prefix"), 42, tc.tracks)
			require.Equal(t, want.Bytes(), got[len("prefix"):])
		})
	}
}
