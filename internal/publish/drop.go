package publish

import (
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// lossyTrack is a sample track that drops every n-th RTP packet before it reaches the peer
// connection's interceptors: the NACK responder never buffers the dropped packets, so a
// retransmission request finds nothing and the loss is real and permanent (Options.DropEvery).
type lossyTrack struct {
	*webrtc.TrackLocalStaticSample
	every uint64
}

// Bind hands the sample track a write stream that drops packets.
func (t *lossyTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return t.TrackLocalStaticSample.Bind(lossyContext{TrackLocalContext: ctx,
		w: &lossyWriter{TrackLocalWriter: ctx.WriteStream(), every: t.every}})
}

type lossyContext struct {
	webrtc.TrackLocalContext
	w webrtc.TrackLocalWriter
}

func (c lossyContext) WriteStream() webrtc.TrackLocalWriter { return c.w }

// lossyWriter counts the packets of one binding and swallows every n-th.
type lossyWriter struct {
	webrtc.TrackLocalWriter
	every uint64
	n     atomic.Uint64
}

func (w *lossyWriter) drop() bool { return w.n.Add(1)%w.every == 0 }

func (w *lossyWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.drop() {
		return h.MarshalSize() + len(payload), nil
	}
	return w.TrackLocalWriter.WriteRTP(h, payload)
}

func (w *lossyWriter) Write(b []byte) (int, error) {
	if w.drop() {
		return len(b), nil
	}
	return w.TrackLocalWriter.Write(b)
}
