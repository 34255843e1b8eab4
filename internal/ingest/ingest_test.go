package ingest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/session"
	"github.com/vigilrec/vigil/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newEngine is the server's media engine on a loopback port of its own, closed when the test ends.
func newEngine(t *testing.T, logs *testutil.Logs) *rtc.Engine {
	t.Helper()
	eng, err := rtc.NewEngine(rtc.Config{UDPAddr: "127.0.0.1:0", UDPReadInterval: 5 * time.Millisecond,
		DisconnectedTimeout: 5 * time.Second, FailedTimeout: 10 * time.Second}, logs.Logger())
	require.NoError(t, err)
	t.Cleanup(func() { _ = eng.Close() })
	return eng
}

type fixture struct {
	mgr  *Manager
	hub  *hub.Hub
	logs *testutil.Logs
}

// newFixture runs a manager until the test ends.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	logs := testutil.NewLogs()
	eng := newEngine(t, logs)
	h := hub.New(hub.Config{})
	f := &fixture{mgr: NewManager(Config{ConnectTimeout: 10 * time.Second}, eng, h, logs.Logger()),
		hub: h, logs: logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.mgr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// peer is a pion publisher sending the H.264 clip in a loop, counting the PLIs it gets.
type peer struct {
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticSample
	plis  atomic.Int64
	wg    sync.WaitGroup
}

func newPublisher(t *testing.T) (*peer, string) {
	t.Helper()
	api, err := rtc.NewClientAPI(testutil.NewLogs().Logger())
	require.NoError(t, err)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}, "video", "test")
	require.NoError(t, err)
	sender, err := pc.AddTrack(track)
	require.NoError(t, err)
	p := &peer{pc: pc, track: track}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		rtc.ReadRTCP(sender, func(pkt rtcp.Packet) {
			if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
				p.plis.Add(1)
			}
		})
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		p.wg.Wait()
	})
	return p, testutil.Offer(t, pc)
}

// send writes the clip's frames in real time until ctx ends.
func (p *peer) send(ctx context.Context, frames []testutil.Frame) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(testutil.ClipFrameDur)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_ = p.track.WriteSample(pionmedia.Sample{Data: frames[i%len(frames)].Data, Duration: testutil.ClipFrameDur})
		}
	}()
}

// A publisher's packets reach the hub with keyframe starts marked, the publisher is asked for a
// keyframe, and stopping the session takes the stream out of the hub.
func TestPublishIntoHubAndStop(t *testing.T) {
	f := newFixture(t)
	pub, offer := newPublisher(t)
	answer, id, err := f.mgr.Publish(context.Background(), "cam", offer)
	require.NoError(t, err)
	testutil.Answer(t, pub.pc, answer)

	stream, err := f.hub.Get("cam")
	require.NoError(t, err)
	tracks := stream.Tracks()
	require.Len(t, tracks, 1)
	require.Equal(t, media.H264, tracks[0].Codec)
	require.Equal(t, uint32(90000), tracks[0].ClockRate)
	sub, err := stream.Subscribe(hub.SubscribeOptions{StartAtKeyframe: true})
	require.NoError(t, err)
	defer sub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub.send(ctx, testutil.H264AnnexBFrames(t, "240p-h264.h264"))
	batch := make([]*media.Packet, 16)
	n, err := sub.Read(ctx, batch)
	require.NoError(t, err)
	require.True(t, batch[0].KeyframeStart, "a subscriber starting at a keyframe gets a keyframe start first")
	require.Equal(t, media.KindVideo, batch[0].Kind)
	require.Positive(t, n)
	require.Eventually(t, func() bool { return pub.plis.Load() > 0 }, 5*time.Second, 10*time.Millisecond,
		"the publisher of a video track is asked for a keyframe")

	require.ErrorIs(t, f.mgr.Stop(ctx, "other", id), ErrSessionNotFound)
	require.NoError(t, f.mgr.Stop(ctx, "cam", id))
	_, err = f.hub.Get("cam")
	require.ErrorIs(t, err, hub.ErrStreamNotFound, "a stopped publisher's stream has left the hub")
	left := f.logs.WaitFor(t, "publisher left", time.Second)
	require.Equal(t, "cam", left.Attrs["stream"])
	require.Equal(t, "stopped", left.Attrs["reason"])
	cancel()
}

func TestPublishRefusals(t *testing.T) {
	f := newFixture(t)
	_, _, err := f.mgr.Publish(context.Background(), "cam", "not sdp")
	require.ErrorIs(t, err, rtc.ErrMalformedSDP)

	pub, offer := newPublisher(t)
	answer, _, err := f.mgr.Publish(context.Background(), "cam", offer)
	require.NoError(t, err)
	testutil.Answer(t, pub.pc, answer)
	_, second := newPublisher(t)
	_, _, err = f.mgr.Publish(context.Background(), "cam", second)
	require.ErrorIs(t, err, hub.ErrStreamExists)
	_, _, err = f.mgr.Publish(context.Background(), "bad/name", second)
	require.ErrorIs(t, err, hub.ErrInvalidName)
}

func TestRunEndsSessionsAndRefusesNewOnes(t *testing.T) {
	logs := testutil.NewLogs()
	eng := newEngine(t, logs)
	h := hub.New(hub.Config{})
	mgr := NewManager(Config{}, eng, h, logs.Logger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Run(ctx) }()

	_, offer := newPublisher(t)
	_, _, err := mgr.Publish(context.Background(), "cam", offer)
	require.NoError(t, err)
	cancel()
	<-done
	require.Zero(t, h.Len(), "Run returns once every publisher has left the hub")
	require.Equal(t, "server shutting down", logs.WaitFor(t, "publisher left", time.Second).Attrs["reason"])
	_, offer = newPublisher(t)
	_, _, err = mgr.Publish(context.Background(), "cam", offer)
	require.ErrorIs(t, err, session.ErrShuttingDown)
}
