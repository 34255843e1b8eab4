package publish

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

func TestNTPCompact(t *testing.T) {
	// 1 January 1970 is 2208988800 s after the NTP epoch; half a second is 0x8000 in 1/65536 s.
	require.Equal(t, uint32(2208988800&0xffff)<<16|0x8000, ntpCompact(time.Unix(0, int64(time.Second/2))))
}

func TestRoundTrip(t *testing.T) {
	sent := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lsr := ntpCompact(sent)
	held := uint32(65536 / 4) // the server held the report 250 ms
	d, ok := roundTrip(sent.Add(290*time.Millisecond), lsr, held)
	require.True(t, ok)
	require.InDelta(t, float64(40*time.Millisecond), float64(d), float64(time.Millisecond))

	_, ok = roundTrip(sent, 0, 0)
	require.False(t, ok, "a report that answers no sender report has no round trip")
	d, ok = roundTrip(sent, lsr, held)
	require.True(t, ok)
	require.Zero(t, d, "a report seemingly from the future is a rounding error, not a negative round trip")
}

func TestSeqTrackerTellsResentPackets(t *testing.T) {
	var s seqTracker
	var resent []uint16
	for _, seq := range []uint16{65534, 65535, 0, 1, 65535, 2, 0, 3} {
		if s.resent(seq) {
			resent = append(resent, seq)
		}
	}
	require.Equal(t, []uint16{65535, 0}, resent, "only the packets sent again, across the wrap")
}

// rtcpFrom is a network RTCP reader returning one compound packet.
type rtcpFrom []rtcp.Packet

func (p rtcpFrom) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	raw, err := rtcp.Marshal(p)
	if err != nil {
		return 0, nil, err
	}
	return copy(b, raw), a, nil
}

func TestMeterCountsWhatIsSentAndReported(t *testing.T) {
	m := newMeter()
	sent := time.Now()
	m.now = func() time.Time { return sent.Add(30 * time.Millisecond) }
	i, err := m.NewInterceptor("")
	require.NoError(t, err)

	var out wire
	w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: 1}, &out)
	for _, seq := range []uint16{10, 11, 12, 11, 13} {
		_, err := w.Write(&rtp.Header{Version: 2, SequenceNumber: seq}, make([]byte, 100), nil)
		require.NoError(t, err)
	}
	require.Equal(t, []uint16{10, 11, 12, 11, 13}, out.written(), "the meter passes every packet on")
	require.EqualValues(t, 5, m.packets.Load())
	require.EqualValues(t, 5*(12+100), m.bytes.Load())
	require.EqualValues(t, 1, m.retransmitted.Load())

	r := i.BindRTCPReader(rtcpFrom{
		&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 11, LostPackets: 0b101}}},
		&rtcp.ReceiverReport{SSRC: 9, Reports: []rtcp.ReceptionReport{{SSRC: 1, LastSenderReport: ntpCompact(sent),
			Delay: 65536 / 100}}},
	})
	_, _, err = r.Read(make([]byte, 1500), nil)
	require.NoError(t, err)
	require.EqualValues(t, 3, m.nacked.Load(), "packets 11, 12 and 14 asked for")
	require.InDelta(t, float64(20*time.Millisecond), float64(m.rtt.Load()), float64(time.Millisecond))
}
