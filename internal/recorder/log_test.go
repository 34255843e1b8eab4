package recorder

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
)

// Each closed segment and the end of a recording are logged with the stream, file, bytes and
// duration.
func TestStopIsLogged(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	h := hub.New(hub.Config{QueuePackets: 1 << 14})
	st, err := h.Create("cam", quietSource{})
	require.NoError(t, err)
	st.SetTracks([]hub.TrackInfo{clip.info})
	logs := testutil.NewLogs()
	m := NewManager(Config{}, h, dirSink{t.TempDir()}, noEvents{}, logs.Logger())
	status, err := m.Start("cam", Options{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return st.Snapshot().Subscribers > 0 }, 5*time.Second, time.Millisecond)
	start := time.Now()
	for k, p := range clip.packets {
		st.Write(&media.Packet{RTP: &rtp.Packet{Header: p.Header, Payload: p.Payload}, Kind: media.KindVideo,
			KeyframeStart: media.IsKeyframeStart(media.H264, p.Payload),
			Arrival:       start.Add(time.Duration(clip.ticks[k]) * time.Second / 90000)})
	}
	require.Eventually(t, func() bool {
		s, err := m.Get(status.ID)
		return err == nil && s.Bytes > 0
	}, 10*time.Second, 5*time.Millisecond, "the recording writes")
	stopped, err := m.Stop(t.Context(), status.ID)
	require.NoError(t, err)
	require.Len(t, stopped.Files, 1)

	seg := logs.WaitFor(t, "segment closed", time.Second)
	require.Equal(t, "cam", seg.Attrs["stream"])
	require.Equal(t, status.ID, seg.Attrs["recording"])
	require.Equal(t, filepath.Base(stopped.Files[0]), seg.Attrs["file"])
	require.Equal(t, strconv.FormatInt(stopped.Bytes, 10), seg.Attrs["bytes"])
	require.NotEmpty(t, seg.Attrs["duration"])

	rec := logs.WaitFor(t, "recording stopped", time.Second)
	require.Equal(t, "cam", rec.Attrs["stream"])
	require.Equal(t, string(StateStopped), rec.Attrs["state"])
	require.Equal(t, "1", rec.Attrs["segments"])
	require.Equal(t, strconv.FormatInt(stopped.Bytes, 10), rec.Attrs["bytes"])
	require.Equal(t, stopped.Duration.Round(time.Millisecond).String(), rec.Attrs["duration"])
}
