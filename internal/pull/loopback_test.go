package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/rtc"
)

// whepServer is a minimal WHEP server for one stream: each session gets a sendonly H.264 and an
// Opus track carrying synthetic packets (a keyframe every 25 frames, or at once after a PLI).
type whepServer struct {
	t    *testing.T
	api  *webrtc.API
	srv  *httptest.Server
	plis atomic.Int64

	mu         sync.Mutex
	refuse     bool
	videoDelay time.Duration // video starts this long after audio
	sessions   map[string]*whepSession
	next       int
	wg         sync.WaitGroup
}

type whepSession struct {
	pc     *webrtc.PeerConnection
	cancel context.CancelFunc
	key    atomic.Bool
}

func newWHEPServer(t *testing.T) *whepServer {
	t.Helper()
	api, err := rtc.NewClientAPI(discardLogger())
	require.NoError(t, err)
	w := &whepServer{t: t, api: api, sessions: map[string]*whepSession{}}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(func() {
		w.closeAll()
		w.srv.Close()
		w.wg.Wait()
	})
	return w
}

func (w *whepServer) endpoint() string { return w.srv.URL + "/cam/whep" }

func (w *whepServer) setRefuse(r bool) {
	w.mu.Lock()
	w.refuse = r
	w.mu.Unlock()
}

func (w *whepServer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sessions)
}

// closeAll ends every session from the server side (as when the published stream ends).
func (w *whepServer) closeAll() {
	w.mu.Lock()
	list := w.sessions
	w.sessions = map[string]*whepSession{}
	w.mu.Unlock()
	for _, s := range list {
		s.cancel()
		_ = s.pc.Close()
	}
}

func (w *whepServer) serve(rw http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		w.mu.Lock()
		s, ok := w.sessions[r.URL.Path]
		delete(w.sessions, r.URL.Path)
		w.mu.Unlock()
		if !ok {
			http.Error(rw, `{"message":"no such session"}`, http.StatusNotFound)
			return
		}
		s.cancel()
		_ = s.pc.Close()
		return
	}
	w.mu.Lock()
	refuse := w.refuse
	w.mu.Unlock()
	if refuse {
		http.Error(rw, `{"message":"stream not found: cam"}`, http.StatusNotFound)
		return
	}
	offer, _ := io.ReadAll(r.Body)
	answer, loc, err := w.answer(string(offer))
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	rw.Header().Set("Location", loc)
	rw.Header().Set("Content-Type", "application/sdp")
	rw.WriteHeader(http.StatusCreated)
	_, _ = rw.Write([]byte(answer))
}

func (w *whepServer) answer(offer string) (string, string, error) {
	pc, err := w.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "cam")
	if err != nil {
		return "", "", err
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000,
		Channels: 2}, "audio", "cam")
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &whepSession{pc: pc, cancel: cancel}
	for _, tr := range []*webrtc.TrackLocalStaticRTP{video, audio} {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			cancel()
			return "", "", errors.Join(err, pc.Close())
		}
		w.wg.Add(1)
		go w.readRTCP(sender, s)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		cancel()
		return "", "", errors.Join(err, pc.Close())
	}
	ans, err := pc.CreateAnswer(nil)
	if err == nil {
		gathered := webrtc.GatheringCompletePromise(pc)
		err = pc.SetLocalDescription(ans)
		<-gathered
	}
	if err != nil {
		cancel()
		return "", "", errors.Join(err, pc.Close())
	}
	w.mu.Lock()
	w.next++
	loc := fmt.Sprintf("/cam/whep/session-%d", w.next)
	w.sessions[loc] = s
	w.mu.Unlock()
	w.wg.Add(1)
	go w.send(ctx, s, video, audio)
	return pc.LocalDescription().SDP, loc, nil
}

func (w *whepServer) readRTCP(sender *webrtc.RTPSender, s *whepSession) {
	defer w.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if _, ok := p.(*rtcp.PictureLossIndication); ok {
				w.plis.Add(1)
				s.key.Store(true)
			}
		}
	}
}

// send writes 50 video and 50 audio packets a second until ctx ends. Sequence numbers and
// timestamps start at random-looking values of their own per session, as a real sender's do.
func (w *whepServer) send(ctx context.Context, s *whepSession, video, audio *webrtc.TrackLocalStaticRTP) {
	defer w.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq, ts := uint16(time.Now().UnixNano()), uint32(time.Now().UnixNano()>>8)
	w.mu.Lock()
	videoFrom := time.Now().Add(w.videoDelay)
	w.mu.Unlock()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		nal := []byte{0x41, 0x9a, 0x02, 0x03} // a non-IDR slice
		if i%25 == 0 || s.key.Swap(false) {
			nal = []byte{0x65, 0x88, 0x84, 0x00} // an IDR slice
		}
		if time.Now().After(videoFrom) {
			_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq + uint16(i),
				Timestamp: ts + uint32(i)*1800}, Payload: nal})
		}
		_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq + uint16(i),
			Timestamp: ts + uint32(i)*960}, Payload: []byte{0xfc, 0xff, 0xfe}})
	}
}

// readFor reads the stream's packets for d and returns them.
func readFor(t *testing.T, sub *hub.Subscriber, d time.Duration) []*media.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []*media.Packet
	batch := make([]*media.Packet, 64)
	for {
		n, err := sub.Read(ctx, batch)
		out = append(out, batch[:n]...)
		if err != nil {
			return out
		}
	}
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A pull of a real WHEP exchange over loopback: the local stream gets the remote's tracks and
// packets; keyframe requests reach the remote as PLIs; when the remote ends the session the pull
// reconnects and the same local stream goes on with continuous sequence numbers and a new SSRC;
// when the remote stays away longer than Hold the stream is closed, and a new one is made when it
// returns; Stop ends it all.
func TestPullOverLoopback(t *testing.T) {
	remote := newWHEPServer(t)
	h := hub.New(hub.Config{})
	m, err := NewManager(Config{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Hold: 2 * time.Second}, h, discardLogger())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	specs, err := Expand(remote.endpoint(), "cam", "local", 0)
	require.NoError(t, err)
	list, err := m.Start(ctx, specs)
	require.NoError(t, err)
	require.Equal(t, StatePlaying, list[0].State, "%+v", list[0])
	require.True(t, strings.HasPrefix(list[0].Resource, remote.srv.URL+"/cam/whep/session-"))
	stream, err := h.Get("local")
	require.NoError(t, err)
	require.Equal(t, list[0].MediaSessionID, stream.ID())
	tracks := stream.Tracks()
	require.Len(t, tracks, 2)
	require.Equal(t, media.H264, tracks[0].Codec)
	require.Equal(t, media.Opus, tracks[1].Codec)

	sub, err := stream.Subscribe(hub.SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()
	before := remote.plis.Load()
	stream.RequestKeyframe()
	waitUntil(t, "a PLI at the remote", 5*time.Second, func() bool { return remote.plis.Load() > before })
	require.Positive(t, stream.Snapshot().PLIs, "PLIs sent upstream are counted in the stream's stats")
	first := readFor(t, sub, 300*time.Millisecond)
	require.NotEmpty(t, first)

	// The remote ends the session; the pull comes back on the same stream.
	remote.closeAll()
	waitUntil(t, "the second session", 10*time.Second, func() bool {
		st, _ := m.Get("local")
		return st.State == StatePlaying && st.Sessions == 2
	})
	st, err := m.Get("local")
	require.NoError(t, err)
	require.Equal(t, stream.ID(), st.MediaSessionID, "the local stream was held")
	second := readFor(t, sub, 500*time.Millisecond)
	all := append(first, second...)
	sources := map[uint32]bool{}
	var newest *media.Packet // of the first session
	for _, p := range all {
		if p.Track != 0 {
			continue
		}
		sources[p.RTP.SSRC] = true
		if newest == nil || p.RTP.SSRC == newest.RTP.SSRC {
			if newest == nil || int16(p.RTP.SequenceNumber-newest.RTP.SequenceNumber) > 0 {
				newest = p
			}
			continue
		}
		require.Equal(t, newest.RTP.SequenceNumber+1, p.RTP.SequenceNumber, "one sequence across sessions")
		gap := p.RTP.Timestamp - newest.RTP.Timestamp
		require.Positive(t, gap)
		require.Less(t, gap, uint32(90000*5), "timestamps follow on by the pause")
		break
	}
	require.Len(t, sources, 2, "each session is a new source")

	// The remote refuses for longer than Hold: the stream closes, the pull keeps trying, and a
	// new stream appears when the remote is back.
	remote.setRefuse(true)
	remote.closeAll()
	waitUntil(t, "the held stream to close", 10*time.Second, func() bool {
		select {
		case <-stream.Done():
			return true
		default:
			return false
		}
	})
	waitUntil(t, "retrying without a stream", 5*time.Second, func() bool {
		st, _ := m.Get("local")
		return st.State == StateRetrying && strings.Contains(st.LastError, "404") && st.MediaSessionID == ""
	})
	remote.setRefuse(false)
	waitUntil(t, "a new stream", 10*time.Second, func() bool {
		st, _ := m.Get("local")
		return st.State == StatePlaying && st.MediaSessionID != "" && st.MediaSessionID != stream.ID()
	})

	st, err = m.Stop(ctx, "local")
	require.NoError(t, err)
	require.Equal(t, StateStopped, st.State)
	_, err = h.Get("local")
	require.ErrorIs(t, err, hub.ErrStreamNotFound)
	waitUntil(t, "the WHEP resource deleted", 5*time.Second, func() bool { return remote.count() == 0 })
}

// Video that starts late (waiting for a keyframe at the remote) is waited for, up to TrackWait;
// after that the pull goes on with the tracks that came.
func TestPullWaitsForLateTracks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trackWait time.Duration
		want      []media.Codec
	}{
		{"within TrackWait", 5 * time.Second, []media.Codec{media.H264, media.Opus}},
		{"beyond TrackWait", 200 * time.Millisecond, []media.Codec{media.Opus}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote := newWHEPServer(t)
			remote.videoDelay = time.Second
			h := hub.New(hub.Config{})
			m, err := NewManager(Config{TrackWait: tc.trackWait}, h, discardLogger())
			require.NoError(t, err)
			specs, err := Expand(remote.endpoint(), "", "late", 0)
			require.NoError(t, err)
			list, err := m.Start(context.Background(), specs)
			require.NoError(t, err)
			require.Equal(t, StatePlaying, list[0].State, "%+v", list[0])
			st, err := h.Get("late")
			require.NoError(t, err)
			var got []media.Codec
			for _, tr := range st.Tracks() {
				got = append(got, tr.Codec)
			}
			require.Equal(t, tc.want, got)
			_, err = m.Stop(context.Background(), "late")
			require.NoError(t, err)
		})
	}
}
