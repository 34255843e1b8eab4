package rtc

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// FeedbackSink receives counts of the RTCP feedback the server sends about one incoming stream.
// Its methods are called from pion's RTCP write path and must not block.
type FeedbackSink interface {
	// CountNACK records n packets asked for again.
	CountNACK(n uint64)
	// CountPLI records one keyframe request (PLI or FIR).
	CountPLI()
}

// FeedbackCounter is an interceptor that counts the NACKs and PLIs written to publishers, by
// media SSRC. It must be registered before the interceptors that generate feedback, so that their
// RTCP passes through it.
type FeedbackCounter struct {
	mu    sync.RWMutex
	sinks map[uint32]FeedbackSink
}

// NewFeedbackCounter returns a counter with no watched SSRCs.
func NewFeedbackCounter() *FeedbackCounter {
	return &FeedbackCounter{sinks: map[uint32]FeedbackSink{}}
}

// Watch sends the counts for ssrc to sink until Unwatch.
func (f *FeedbackCounter) Watch(ssrc uint32, sink FeedbackSink) {
	f.mu.Lock()
	f.sinks[ssrc] = sink
	f.mu.Unlock()
}

// Unwatch stops counting for ssrc.
func (f *FeedbackCounter) Unwatch(ssrc uint32) {
	f.mu.Lock()
	delete(f.sinks, ssrc)
	f.mu.Unlock()
}

// NewInterceptor implements interceptor.Factory.
func (f *FeedbackCounter) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &feedbackInterceptor{counter: f}, nil
}

func (f *FeedbackCounter) observe(pkts []rtcp.Packet) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.sinks) == 0 {
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			if s, ok := f.sinks[p.MediaSSRC]; ok {
				var n uint64
				for _, pair := range p.Nacks {
					n += uint64(len(pair.PacketList()))
				}
				s.CountNACK(n)
			}
		case *rtcp.PictureLossIndication:
			if s, ok := f.sinks[p.MediaSSRC]; ok {
				s.CountPLI()
			}
		case *rtcp.FullIntraRequest:
			if s, ok := f.sinks[p.MediaSSRC]; ok {
				s.CountPLI()
			}
		}
	}
}

type feedbackInterceptor struct {
	interceptor.NoOp
	counter *FeedbackCounter
}

func (i *feedbackInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, attrs interceptor.Attributes) (int, error) {
		i.counter.observe(pkts)
		return w.Write(pkts, attrs)
	})
}
