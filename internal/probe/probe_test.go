package probe

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Result
		err  bool
	}{
		{"mp4 with two streams", `{"streams":[{"codec_name":"h264","start_time":"0.000000","duration":"19.966667"},
			{"codec_name":"opus","start_time":"0.013000","duration":"19.980000"}],"format":{"duration":"20.000000"}}`,
			Result{Duration: 20, Streams: []Stream{{"h264", 0, 19.966667}, {"opus", 0.013, 19.98}}}, false},
		{"webm without stream durations", `{"streams":[{"codec_name":"vp8"}],"format":{"duration":"3.5"}}`,
			Result{Duration: 3.5, Streams: []Stream{{Codec: "vp8"}}}, false},
		{"not json", `moov atom not found`, Result{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse([]byte(tc.in))
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, got.Streams[0].Codec, got.Codecs()[0])
			require.Equal(t, got.Streams[0], got.Stream(got.Streams[0].Codec))
			require.Zero(t, got.Stream("av1"))
		})
	}
}
