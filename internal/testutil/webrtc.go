package testutil

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// Offer sets pc's offer as its local description and returns it once ICE gathering is complete,
// so that it carries its candidates (WHIP and WHEP do not trickle).
func Offer(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatalf("create offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatalf("set local description: %v", err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// Answer applies a remote answer to pc.
func Answer(t testing.TB, pc *webrtc.PeerConnection, sdp string) {
	t.Helper()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatalf("set answer: %v", err)
	}
}
