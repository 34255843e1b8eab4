package egress

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/session"
	"github.com/vigilrec/vigil/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// source is a hub publisher that counts the keyframe requests it gets.
type source struct{ keyframes atomic.Int64 }

func (s *source) RequestKeyframe() { s.keyframes.Add(1) }
func (s *source) Disconnect()      {}

type fixture struct {
	mgr  *Manager
	hub  *hub.Hub
	logs *testutil.Logs
	run  context.CancelFunc
	done chan struct{}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	logs := testutil.NewLogs()
	api, err := rtc.NewClientAPI(logs.Logger())
	require.NoError(t, err)
	f := &fixture{hub: hub.New(hub.Config{}), logs: logs, done: make(chan struct{})}
	f.mgr = NewManager(Config{ConnectTimeout: 10 * time.Second}, api, f.hub, logs.Logger())
	ctx, cancel := context.WithCancel(context.Background())
	f.run = cancel
	go func() { defer close(f.done); _ = f.mgr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

// publish creates stream name with one H.264 track and writes the clip's packets into it in
// real time until the test ends.
func (f *fixture) publish(t *testing.T, name string) (*hub.Stream, *source) {
	t.Helper()
	src := &source{}
	stream, err := f.hub.Create(name, src)
	require.NoError(t, err)
	stream.SetTracks([]hub.TrackInfo{{Kind: media.KindVideo, Codec: media.H264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}})
	frames := testutil.H264AnnexBFrames(t, "240p-h264.h264")
	packetizer := rtp.NewPacketizer(1200, 96, 1, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(testutil.ClipFrameDur)
		defer tick.Stop()
		var arena media.Arena
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, pkt := range packetizer.Packetize(frames[i%len(frames)].Data, 90000/30) {
				raw, err := pkt.Marshal()
				if err != nil {
					continue
				}
				p, err := arena.Packet(raw)
				if err != nil {
					continue
				}
				p.Kind, p.Arrival = media.KindVideo, time.Now()
				p.KeyframeStart = media.IsKeyframeStart(media.H264, p.RTP.Payload)
				stream.Write(p)
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); stream.Close() })
	return stream, src
}

// peer is a pion viewer receiving one video track; it counts the RTP packets it reads.
type peer struct {
	pc      *webrtc.PeerConnection
	packets atomic.Int64
	wg      sync.WaitGroup
}

func newViewer(t *testing.T) (*peer, string) {
	t.Helper()
	api, err := rtc.NewClientAPI(testutil.NewLogs().Logger())
	require.NoError(t, err)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	require.NoError(t, err)
	v := &peer{pc: pc}
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			for {
				if _, _, err := track.ReadRTP(); err != nil {
					return
				}
				v.packets.Add(1)
			}
		}()
	})
	t.Cleanup(func() {
		_ = pc.Close()
		v.wg.Wait()
	})
	return v, testutil.Offer(t, pc)
}

// A viewer gets the stream's packets once connected, its joining and leaving are logged, and
// the stream's end ends it.
func TestViewerJoinsAndLeavesWithTheStream(t *testing.T) {
	f := newFixture(t)
	stream, src := f.publish(t, "cam")
	v, offer := newViewer(t)
	answer, id, err := f.mgr.Play(context.Background(), "cam", offer)
	require.NoError(t, err)
	testutil.Answer(t, v.pc, answer)
	require.Equal(t, 1, f.mgr.CountFor("cam"))
	require.Equal(t, 0, f.mgr.CountFor("other"))

	joined := f.logs.WaitFor(t, "viewer joined", 10*time.Second)
	require.Equal(t, "cam", joined.Attrs["stream"])
	require.Equal(t, id, joined.Attrs["viewer"])
	_, port, err := net.SplitHostPort(joined.Attrs["remote"])
	require.NoError(t, err, "the remote address of the selected candidate pair")
	require.NotEqual(t, "0", port)
	require.Eventually(t, func() bool { return v.packets.Load() > 0 }, 10*time.Second, 10*time.Millisecond,
		"the viewer gets the stream's packets")
	require.Positive(t, src.keyframes.Load(), "a joining viewer asks the publisher for a keyframe")

	stream.Close()
	left := f.logs.WaitFor(t, "viewer left", 10*time.Second)
	require.Equal(t, id, left.Attrs["viewer"])
	require.Equal(t, joined.Attrs["remote"], left.Attrs["remote"])
	require.Equal(t, "stream ended", left.Attrs["reason"])
	require.NotEmpty(t, left.Attrs["duration"])
	require.Eventually(t, func() bool { return f.mgr.Count() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestStopAViewer(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "cam")
	v, offer := newViewer(t)
	answer, id, err := f.mgr.Play(context.Background(), "cam", offer)
	require.NoError(t, err)
	testutil.Answer(t, v.pc, answer)
	f.logs.WaitFor(t, "viewer joined", 10*time.Second)

	require.ErrorIs(t, f.mgr.Stop(context.Background(), "other", id), ErrSessionNotFound)
	require.NoError(t, f.mgr.Stop(context.Background(), "cam", id))
	require.Zero(t, f.mgr.Count())
	require.Equal(t, "stopped", f.logs.WaitFor(t, "viewer left", time.Second).Attrs["reason"])
}

func TestPlayRefusals(t *testing.T) {
	f := newFixture(t)
	_, offer := newViewer(t)
	_, _, err := f.mgr.Play(context.Background(), "cam", offer)
	require.ErrorIs(t, err, hub.ErrStreamNotFound)

	_, err = f.hub.Create("silent", &source{})
	require.NoError(t, err)
	_, _, err = f.mgr.Play(context.Background(), "silent", offer)
	require.ErrorIs(t, err, ErrNotPublishing)

	f.publish(t, "cam")
	_, _, err = f.mgr.Play(context.Background(), "cam", "not sdp")
	require.ErrorIs(t, err, rtc.ErrMalformedSDP)

	f.run()
	<-f.done
	_, _, err = f.mgr.Play(context.Background(), "cam", offer)
	require.ErrorIs(t, err, session.ErrShuttingDown)
}
