package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// offerWithOnly builds a real offer whose only codec is the given audio codec.
func offerWithOnly(t *testing.T, mime string, clock uint32) string {
	t.Helper()
	m := &webrtc.MediaEngine{}
	require.NoError(t, m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 0,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: clock}}, webrtc.RTPCodecTypeAudio))
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	defer pc.Close()
	_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	require.NoError(t, err)
	offer, err := pc.CreateOffer(nil)
	require.NoError(t, err)
	return offer.SDP
}

// Bad requests get a clear JSON error with the right status, and a stream that is live meanwhile
// keeps flowing without loss.
func TestBadInput(t *testing.T) {
	s := startServer(t, nil)
	s.publish("healthy", media.H264)
	s.waitFor("healthy publishing", 15*time.Second, func() bool { return s.publishing("healthy") })
	viewer := s.view("healthy")
	packetsBefore := videoPackets(t, s, "healthy")

	goodOffer := func() string {
		pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
		require.NoError(t, err)
		defer pc.Close()
		_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		require.NoError(t, err)
		offer, err := pc.CreateOffer(nil)
		require.NoError(t, err)
		return offer.SDP
	}()
	for _, tc := range []struct {
		name, method, path, ctype, body string
		want                            int
		message                         string
	}{
		{"malformed SDP", "POST", "/whip/bad1", "application/sdp", "this is not SDP", 400, "malformed SDP"},
		{"SDP without media", "POST", "/whip/bad1", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 400, "no media"},
		{"no supported codec", "POST", "/whip/bad2", "application/sdp", offerWithOnly(t, webrtc.MimeTypePCMU, 8000), 406, "PCMU"},
		{"duplicate publish", "POST", "/whip/healthy", "application/sdp", goodOffer, 409, "already being published"},
		{"bad name", "POST", "/whip/bad*name", "application/sdp", goodOffer, 400, "invalid stream name"},
		{"name too long", "POST", "/whip/" + strings.Repeat("n", 129), "application/sdp", goodOffer, 400, "invalid stream name"},
		{"body over 1 MiB", "POST", "/whip/big", "application/sdp", strings.Repeat("a", 1<<20+1), 413, "too large"},
		{"wrong content type", "POST", "/whip/ct", "text/plain", goodOffer, 415, "application/sdp"},
		{"unknown session DELETE", "DELETE", "/whip/healthy/00000000-0000-0000-0000-000000000000", "", "", 404, "not found"},
		{"unknown viewer DELETE", "DELETE", "/whep/healthy/nope", "", "", 404, "not found"},
		{"WHEP of unknown stream", "POST", "/whep/nobody", "application/sdp", goodOffer, 404, "stream not found"},
		{"trickle PATCH", "PATCH", "/whip/healthy/x", "application/trickle-ice-sdpfrag", "a=candidate:1", 405, "trickle"},
		{"unknown stream API", "GET", "/api/v1/streams/nobody", "", "", 404, "not found"},
		{"kick unknown stream", "DELETE", "/api/v1/streams/nobody", "", "", 404, "not found"},
		{"bad JSON to WCS", "POST", "/rest-api/stream/find", "application/json", "{", 400, "invalid JSON"},
		{"method not allowed", "PUT", "/api/v1/streams", "", "", 405, "not allowed"},
		{"unknown endpoint", "GET", "/nope", "", "", 404, "no such endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := s.request(tc.method, tc.path, tc.ctype, tc.body)
			require.Equal(t, tc.want, status, body)
			require.Equal(t, "application/json", hdr.Get("Content-Type"))
			requireJSONMessage(t, body)
			require.Contains(t, strings.ToLower(body), strings.ToLower(tc.message))
		})
	}
	status, _, hdr := s.request(http.MethodOptions, "/whip/any", "", "")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, "application/sdp", hdr.Get("Accept-Post"))

	// The healthy stream kept flowing and lost nothing; its viewer kept receiving.
	s.waitFor("healthy stream still flowing", 10*time.Second, func() bool {
		return videoPackets(t, s, "healthy") > packetsBefore+100
	})
	st, ok := s.stream("healthy")
	require.True(t, ok)
	require.EqualValues(t, 0, st["video"].(map[string]any)["lost"])
	v0, _ := viewer.counts()
	s.waitFor("viewer still receiving", 10*time.Second, func() bool { v, _ := viewer.counts(); return v > v0+50 })
	_, ok = s.stream("bad1")
	require.False(t, ok, "a refused publisher must not leave a stream behind")
}

func videoPackets(t *testing.T, s *testServer, name string) float64 {
	t.Helper()
	st, ok := s.stream(name)
	require.True(t, ok, "stream %s is gone", name)
	v, _ := st["video"].(map[string]any)
	n, _ := v["packets"].(float64)
	return n
}
