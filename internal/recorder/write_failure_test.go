package recorder

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
)

// failingFile fails its nth write with ENOSPC, as a full disk does.
type failingFile struct {
	osFile
	writes, failAt int
}

func (f *failingFile) Write(b []byte) (int, error) {
	f.writes++
	if f.writes == f.failAt {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.osFile.Write(b)
}

// flakySink gives the first file of streams named "full-*" a write that fails.
type flakySink struct {
	dir    string
	failed atomic.Bool
}

func (s *flakySink) Create(name string) (File, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(name, "full-") && s.failed.CompareAndSwap(false, true) {
		return &failingFile{osFile: osFile{f}, failAt: 3}, nil
	}
	return osFile{f}, nil
}

// A write that fails (ENOSPC) closes the segment, shows the failure in the recording's status and
// never ends the recording: a new segment starts at a later keyframe. Other recordings go on
// untouched.
func TestWriteFailureDoesNotEndRecording(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	h := hub.New(hub.Config{QueuePackets: 1 << 14})
	var streams []*hub.Stream
	for _, name := range []string{"full-a", "fine-b"} {
		st, err := h.Create(name, quietSource{})
		require.NoError(t, err)
		st.SetTracks([]hub.TrackInfo{clip.info})
		streams = append(streams, st)
	}
	sink := &flakySink{dir: t.TempDir()}
	m := NewManager(Config{WriteRetry: time.Millisecond}, h, sink, noEvents{}, discardLogger())
	ids := map[string]string{}
	for _, st := range streams {
		status, err := m.Start(st.Name(), Options{})
		require.NoError(t, err)
		ids[st.Name()] = status.ID
		// The recording subscribes from its goroutine.
		testutil.WaitFor(t, "the recording to subscribe", 10*time.Second, func() bool { return st.Snapshot().Subscribers > 0 })
	}
	// Three passes of the clip (12 s, six keyframes), with arrival times matching RTP time.
	start := time.Now()
	for pass := range 3 {
		for k, p := range clip.packets {
			off := uint32(pass) * clipFrames * clipFrameTicks
			for _, st := range streams {
				hdr := p.Header.Clone()
				hdr.Timestamp += off
				hdr.SequenceNumber += uint16(pass * len(clip.packets))
				st.Write(&media.Packet{RTP: &rtp.Packet{Header: hdr, Payload: p.Payload}, Kind: media.KindVideo,
					KeyframeStart: media.IsKeyframeStart(media.H264, p.Payload),
					Arrival:       start.Add(time.Duration(clip.ticks[k]+off) * time.Second / 90000)})
			}
		}
	}
	deadline := time.Now().Add(testutil.Scaled(20 * time.Second))
	for {
		a, _ := m.Get(ids["full-a"])
		if a.Segments >= 2 && a.State == StateRecording {
			require.Contains(t, a.Error, "no space left on device", "the failure stays visible")
			break
		}
		require.True(t, time.Now().Before(deadline), "recording did not recover: %+v", a)
		time.Sleep(5 * time.Millisecond)
	}
	// The other recording has its one segment (it reads on its own schedule, so it may still be
	// catching up with the packets when the first has recovered).
	for {
		b, err := m.Get(ids["fine-b"])
		require.NoError(t, err)
		require.Empty(t, b.Error)
		require.LessOrEqual(t, b.Segments, 1, "the failure of another recording cut this one")
		if b.Segments == 1 && b.State == StateRecording {
			break
		}
		require.True(t, time.Now().Before(deadline), "the other recording did not start: %+v", b)
		time.Sleep(5 * time.Millisecond)
	}
	for _, id := range ids {
		st, err := m.Stop(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, StateStopped, st.State)
	}
}
