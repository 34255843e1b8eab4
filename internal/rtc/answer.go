package rtc

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/pion/webrtc/v4"
)

// Answer applies a remote offer to pc and returns pc's answer with every ICE candidate in it:
// the shared UDP port makes gathering instant, so WHIP and WHEP need no trickle. A remote
// description pion refuses is ErrMalformedSDP; an offer it cannot answer is ErrNoSupportedCodec.
func Answer(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformedSDP, err) //nolint:errorlint // pion's error is detail
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoSupportedCodec, err) //nolint:errorlint // pion's error is detail
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gather candidates: %w", ctx.Err())
	}
	return pc.LocalDescription().SDP, nil
}

// RemoteAddr is the address of the remote end of pc's selected ICE candidate pair ("ip:port"), or
// "" while none is selected.
func RemoteAddr(pc *webrtc.PeerConnection) string {
	var transports []*webrtc.DTLSTransport
	for _, s := range pc.GetSenders() {
		transports = append(transports, s.Transport())
	}
	for _, r := range pc.GetReceivers() {
		transports = append(transports, r.Transport())
	}
	for _, t := range transports {
		if t == nil || t.ICETransport() == nil {
			continue
		}
		pair, err := t.ICETransport().GetSelectedCandidatePair()
		if err == nil && pair != nil {
			return net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port)))
		}
	}
	return ""
}
