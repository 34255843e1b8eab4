package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseFailOn(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Threshold
		err  string
	}{
		{"", nil, ""},
		{"cpu_per_stream_min>0.3,loss>0.01", []Threshold{{"cpu_per_stream_min", ">", 0.3}, {"loss", ">", 0.01}}, ""},
		{" peak_rss_mb >= 500 , files_valid<5", []Threshold{{"peak_rss_mb", ">=", 500}, {"files_valid", "<", 5}}, ""},
		{"udp_drops<=0", []Threshold{{"udp_drops", "<=", 0}}, ""},
		{"cpu>1", nil, `unknown figure "cpu"`},
		{"loss=0.1", nil, "want FIGURE>VALUE"},
		{">3", nil, "want FIGURE>VALUE"},
		{"loss>lots", nil, "invalid syntax"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFailOn(tc.in)
			if tc.err != "" {
				require.ErrorIs(t, err, ErrFailOn)
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCrossed(t *testing.T) {
	ts, err := ParseFailOn("cpu_per_stream_min>0.3,loss>0.01,files_invalid>0,files_valid<5")
	require.NoError(t, err)
	f := &Figures{CPUPerStreamMin: 0.31, Loss: 0.01, FilesValid: 4}
	got := crossed(ts, f)
	require.Len(t, got, 2)
	require.Contains(t, got[0], "cpu_per_stream_min>0.3")
	require.Contains(t, got[1], "files_valid<5")
	require.Empty(t, crossed(ts, &Figures{FilesValid: 5}))
}

func TestFigureNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range figureDefs() {
		require.False(t, seen[f.name], f.name)
		seen[f.name] = true
	}
}
