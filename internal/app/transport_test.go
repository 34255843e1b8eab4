package app

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
)

// With public_ips set, the answer announces that address (NAT 1:1) instead of the local one.
func TestPublicIPIsAnnounced(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.PublicIPs = []string{"203.0.113.9"} })
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	defer pc.Close()
	_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	require.NoError(t, err)
	offer, err := pc.CreateOffer(nil)
	require.NoError(t, err)
	status, answer, hdr := s.request(http.MethodPost, "/whip/nat", "application/sdp", offer.SDP)
	require.Equal(t, http.StatusCreated, status, answer)
	require.Contains(t, answer, " 203.0.113.9 ")
	require.NotContains(t, answer, " 127.0.0.1 ")
	status, body, _ := s.request(http.MethodDelete, hdr.Get("Location"), "", "")
	require.Equal(t, http.StatusOK, status, body)
}

// The media socket gets the receive buffer asked for (as root, SO_RCVBUFFORCE passes the sysctl
// cap), and its kernel drop counter is part of the server's stats.
func TestUDPReceiveBufferAndDrops(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.UDPReceiveBuffer = 4 << 20 })
	status, body, _ := s.request(http.MethodGet, "/api/v1/stats", "", "")
	require.Equal(t, http.StatusOK, status)
	var stats struct {
		UDP struct {
			ReceiveBuffer int    `json:"receiveBuffer"`
			Drops         uint64 `json:"drops"`
			Error         string `json:"error"`
		} `json:"udp"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &stats))
	require.Empty(t, stats.UDP.Error)
	if os.Geteuid() == 0 {
		require.Equal(t, 4<<20, stats.UDP.ReceiveBuffer)
	} else {
		require.Positive(t, stats.UDP.ReceiveBuffer)
	}
	require.False(t, strings.Contains(body, `"drops":-`))
}
