package bench

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompare(t *testing.T) {
	a := &Report{Settings: Settings{Topology: "direct", Streams: 100, Codec: "h264", Profile: "1080p", Duration: 60},
		Figures: Figures{CPUPerStreamMin: 0.5, PeakRSSMB: 300, FilesValid: 100}}
	b := &Report{Settings: Settings{Topology: "direct", Streams: 100, Codec: "h264", Profile: "1080p", Duration: 60},
		Figures: Figures{CPUPerStreamMin: 0.25, PeakRSSMB: 450, FilesValid: 100, UDPDrops: 12}}
	// Through report.json, as `vigil bench compare` reads them.
	dir := t.TempDir()
	require.NoError(t, a.write(filepath.Join(dir, "a")))
	require.NoError(t, b.write(filepath.Join(dir, "b")))
	ra, err := LoadReport(filepath.Join(dir, "a", "report.json"))
	require.NoError(t, err)
	rb, err := LoadReport(filepath.Join(dir, "b", "report.json"))
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, Compare(&out, ra, rb, "mediamtx", "vigil"))
	rows := map[string][]string{}
	for line := range strings.Lines(out.String()) {
		f := strings.Fields(line)
		for i := range f {
			if i > 0 && strings.ContainsAny(f[i][:1], "0123456789=∞") {
				rows[strings.Join(f[:i], " ")] = f[i:]
				break
			}
		}
	}
	require.Equal(t, []string{"0.5000", "0.2500", "0.50", "CPU-s"}, rows["CPU per stream-minute"], out.String())
	require.Equal(t, []string{"300", "450", "1.50", "MB"}, rows["peak RSS"], out.String())
	require.Equal(t, []string{"100", "100", "1.00", "files"}, rows["files valid"], out.String())
	require.Equal(t, []string{"0", "12", "∞", "datagrams"}, rows["kernel UDP drops"], out.String())
	require.Equal(t, []string{"0", "0", "=", "ratio"}, rows["loss"], out.String())
	require.Contains(t, out.String(), "direct 100×h264 1080p 60s")

	_, err = LoadReport(filepath.Join(dir, "missing.json"))
	require.Error(t, err)
}
