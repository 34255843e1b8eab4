package app

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a server or a test client starts must be gone when the tests end, but one of
// pion's: an SRTP session's reader that gets the first packet of a new SSRC while its peer
// connection closes blocks for ever handing the stream to an acceptor that has already returned
// (srtp v3 session_srtp.go, "s.session.newStream <- r"; the channel is unbuffered and Close does
// not unblock it). Tests keep their sessions up until media flows, which makes it rare; it is not
// vigil's to fix.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/pion/srtp/v3.(*SessionSRTP).decrypt"))
}
