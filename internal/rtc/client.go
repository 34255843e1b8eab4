package rtc

import (
	"fmt"
	"log/slog"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// NewClientAPI builds the pion API for outgoing sessions (`vigil publish`, pulls, tests): the same
// codecs and interceptors as the server, an ephemeral UDP port per session, loopback candidates
// included so that a client and server on one machine connect.
func NewClientAPI(log *slog.Logger) (*webrtc.API, error) {
	return NewClientAPIWithFeedback(log, nil)
}

// NewClientAPIWithFeedback is NewClientAPI with the NACKs and PLIs the client sends counted by
// counter (nil: not counted). Pulls use it so a pulled stream's feedback shows in its stats like a
// WHIP publisher's.
func NewClientAPIWithFeedback(log *slog.Logger, counter *FeedbackCounter) (*webrtc.API, error) {
	m, reg, err := newClientMediaEngine(counter)
	if err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: NewLoggerFactory(log)}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// NewClientAPIWithWire is NewClientAPI with wire's interceptor placed before every other one,
// next to the network: its RTP writer sees every packet as sent, retransmissions answering NACKs
// included. `vigil publish` impairs its own sending this way.
func NewClientAPIWithWire(log *slog.Logger, wire interceptor.Factory) (*webrtc.API, error) {
	m, reg, err := newClientMediaEngine(nil)
	if err != nil {
		return nil, err
	}
	outer := &interceptor.Registry{}
	outer.Add(wire)
	outer.Add(registryFactory{reg})
	se := webrtc.SettingEngine{LoggerFactory: NewLoggerFactory(log)}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(outer), webrtc.WithSettingEngine(se)), nil
}

// newClientMediaEngine is newMediaEngine for a client, whose packets also carry transport-wide
// sequence numbers as browsers' do, so that a server's congestion control feedback (and its cost)
// is exercised by vigil's own publishers as it is by a browser's.
func newClientMediaEngine(counter *FeedbackCounter) (*webrtc.MediaEngine, *interceptor.Registry, error) {
	m, reg, err := newMediaEngine(counter)
	if err != nil {
		return nil, nil, err
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		return nil, nil, fmt.Errorf("configure twcc sequence numbers: %w", err)
	}
	return m, reg, nil
}

// registryFactory builds a whole registry's chain as one interceptor.
type registryFactory struct{ reg *interceptor.Registry }

func (f registryFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	return f.reg.Build(id)
}
