package publish

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// meter counts what one session puts on the wire and what the server reports back. It sits below
// pion's NACK responder, so retransmissions pass through it, and above any impairment, so it
// counts what the publisher sent, not what the impaired path let through.
type meter struct {
	packets, bytes, retransmitted atomic.Uint64
	nacked                        atomic.Uint64
	rtt                           atomic.Int64 // latest round trip in ns; 0 before the first report
	now                           func() time.Time
}

func newMeter() *meter { return &meter{now: time.Now} }

// NewInterceptor implements interceptor.Factory. A session's API builds one peer connection, so
// every interceptor it builds counts into the same meter.
func (m *meter) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &meterInterceptor{m: m}, nil
}

type meterInterceptor struct {
	interceptor.NoOp
	m *meter
}

// BindLocalStream counts each packet, and as a retransmission each one whose sequence number is
// not ahead of the highest sent: without RTX, the NACK responder resends packets unchanged.
func (i *meterInterceptor) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var seq seqTracker
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		i.m.packets.Add(1)
		i.m.bytes.Add(uint64(h.MarshalSize() + len(payload)))
		if seq.resent(h.SequenceNumber) {
			i.m.retransmitted.Add(1)
		}
		return w.Write(h, payload, a)
	})
}

// BindRTCPReader reads the server's NACKs and receiver reports.
func (i *meterInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := r.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = interceptor.Attributes{}
		}
		if pkts, perr := attr.GetRTCPPackets(b[:n]); perr == nil {
			i.m.observe(pkts)
		}
		return n, attr, nil
	})
}

func (m *meter) observe(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			var n uint64
			for _, pair := range p.Nacks {
				n += uint64(len(pair.PacketList()))
			}
			m.nacked.Add(n)
		case *rtcp.ReceiverReport:
			m.reports(p.Reports)
		case *rtcp.SenderReport:
			m.reports(p.Reports)
		}
	}
}

func (m *meter) reports(rr []rtcp.ReceptionReport) {
	now := m.now()
	for _, r := range rr {
		if d, ok := roundTrip(now, r.LastSenderReport, r.Delay); ok {
			m.rtt.Store(int64(d))
		}
	}
}

// roundTrip is RFC 3550 §6.4.1's round trip: the report's arrival minus the sender report it
// answers (lsr) minus the time the server held it (dlsr), all in 1/65536 s of NTP time. Our sender
// reports carry this clock's time, so no clock is compared with the server's. ok is false when
// the report answers no sender report yet.
func roundTrip(now time.Time, lsr, dlsr uint32) (time.Duration, bool) {
	if lsr == 0 {
		return 0, false
	}
	d := int32(ntpCompact(now) - lsr - dlsr)
	if d < 0 {
		d = 0 // rounding on a loopback path
	}
	return time.Duration(int64(d) * int64(time.Second) >> 16), true
}

// ntpCompact is the middle 32 bits of t's 64-bit NTP timestamp.
func ntpCompact(t time.Time) uint32 {
	const unixToNTP = 2208988800
	ns := uint64(t.UnixNano())
	secs := ns/1e9 + unixToNTP
	frac := ((ns % 1e9) << 32) / 1e9
	return uint32((secs<<32 | frac) >> 16)
}

// seqTracker tells packets sent again from new ones on one RTP stream. The sample writer and the
// NACK responder write from different goroutines.
type seqTracker struct {
	mu      sync.Mutex
	highest uint16
	seen    bool
}

func (t *seqTracker) resent(seq uint16) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen && int16(seq-t.highest) <= 0 {
		return true
	}
	t.highest, t.seen = seq, true
	return false
}

// wireFactory chains what sits next to the network: the impairment (when there is one) nearest to it,
// then the meter.
type wireFactory struct {
	meter  *meter
	impair *impairer // nil: none
}

// NewInterceptor implements interceptor.Factory.
func (w wireFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	m, err := w.meter.NewInterceptor(id)
	if err != nil || w.impair == nil {
		return m, err
	}
	im, err := w.impair.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	// A chain wraps the network writer with its first interceptor first.
	return interceptor.NewChain([]interceptor.Interceptor{im, m}), nil
}
