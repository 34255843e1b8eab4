package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/whip"
)

// viewer is a WHEP client that keeps the video RTP it receives.
type viewer struct {
	t        *testing.T
	pc       *webrtc.PeerConnection
	resource *whip.Resource
	client   *whip.Client
	joined   time.Time

	mu        sync.Mutex
	codec     media.Codec
	video     []*rtp.Packet
	audio     int
	firstAt   time.Time
	connState webrtc.PeerConnectionState
	readers   sync.WaitGroup
}

// view subscribes to stream name over WHEP.
func (s *testServer) view(name string) *viewer {
	s.t.Helper()
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(s.t, err)
	v := &viewer{t: s.t, pc: pc, client: &whip.Client{HTTP: s.http}}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		_, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		require.NoError(s.t, err)
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		v.mu.Lock()
		v.connState = st
		v.mu.Unlock()
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c, _ := media.CodecFromMime(track.Codec().MimeType)
		v.readers.Add(1)
		go v.read(track, c)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v.joined = time.Now()
	v.resource, err = v.client.Negotiate(ctx, pc, s.base+"/whep/"+name)
	require.NoError(s.t, err, "view %s", name)
	s.t.Cleanup(v.close)
	return v
}

func (v *viewer) read(track *webrtc.TrackRemote, c media.Codec) {
	defer v.readers.Done()
	for {
		p, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		if c.Kind() == media.KindVideo {
			if len(v.video) == 0 {
				v.firstAt = time.Now()
				v.codec = c
			}
			v.video = append(v.video, p)
		} else {
			v.audio++
		}
		v.mu.Unlock()
	}
}

func (v *viewer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if v.resource != nil {
		_ = v.client.Delete(ctx, v.resource.URL)
	}
	_ = v.pc.Close()
	v.readers.Wait()
}

// videoSince returns a copy of the video packets received within d of the first one.
func (v *viewer) videoWithin(d time.Duration) (media.Codec, []*rtp.Packet, time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.video) == 0 {
		return "", nil, time.Time{}
	}
	first := v.video[0].Timestamp
	var out []*rtp.Packet
	for _, p := range v.video {
		if time.Duration(p.Timestamp-first)*time.Second/90000 < d {
			out = append(out, p)
		}
	}
	return v.codec, out, v.firstAt
}

func (v *viewer) counts() (video, audio int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.video), v.audio
}

// writeVideo turns RTP into a file ffmpeg reads: Annex B for H.264, IVF for the others.
func writeVideo(t *testing.T, c media.Codec, pkts []*rtp.Packet) string {
	t.Helper()
	dir := t.TempDir()
	var path string
	var write func(*rtp.Packet) error
	var closeFn func() error
	if c == media.H264 {
		path = filepath.Join(dir, "video.h264")
		w, err := h264writer.New(path)
		require.NoError(t, err)
		write, closeFn = w.WriteRTP, w.Close
	} else {
		path = filepath.Join(dir, "video.ivf")
		w, err := ivfwriter.New(path, ivfwriter.WithCodec(c.Mime()))
		require.NoError(t, err)
		write, closeFn = w.WriteRTP, w.Close
	}
	for _, p := range pkts {
		require.NoError(t, write(p))
	}
	require.NoError(t, closeFn())
	return path
}

// decode runs ffmpeg over path and returns the number of frames decoded and what ffmpeg printed
// at level error (nothing, for a clean stream).
func decode(t *testing.T, path string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (bash .ci/run installs it)")
	}
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, string(out))
	// The count is read from stdout alone: the decoder's warnings go to stderr.
	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	require.NoError(t, err, string(probe))
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(string(probe), "\n")[0]))
	require.NoError(t, err, string(probe))
	return n, strings.TrimSpace(string(out))
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Size()
}
