package rtc

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/stretchr/testify/require"
)

func TestNTPTime(t *testing.T) {
	// 2024-01-01T00:00:00.5Z: seconds since 1900, and half a second as a 32-bit fraction.
	want := time.Date(2024, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	ntp := uint64(want.Unix()+2208988800)<<32 | 1<<31
	require.True(t, NTPTime(ntp).Equal(want), "got %s", NTPTime(ntp).UTC())
	require.True(t, NTPTime(0).Equal(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)))
}

type rtcpLog struct {
	sent []rtcp.Packet
	fail map[uint32]bool
}

func (w *rtcpLog) WriteRTCP(pkts []rtcp.Packet) error {
	pli := pkts[0].(*rtcp.PictureLossIndication)
	if w.fail[pli.MediaSSRC] {
		return errors.New("closed")
	}
	w.sent = append(w.sent, pkts...)
	return nil
}

func TestSendPLIAsksEverySSRCEvenAfterAFailure(t *testing.T) {
	w := &rtcpLog{fail: map[uint32]bool{1: true}}
	err := SendPLI(w, 1, 2, 3)
	require.ErrorContains(t, err, "SSRC 1")
	require.Equal(t, []rtcp.Packet{
		&rtcp.PictureLossIndication{MediaSSRC: 2}, &rtcp.PictureLossIndication{MediaSSRC: 3},
	}, w.sent)
	require.NoError(t, SendPLI(w))
}

func TestIsKeyframeRequest(t *testing.T) {
	require.True(t, IsKeyframeRequest(&rtcp.PictureLossIndication{}))
	require.True(t, IsKeyframeRequest(&rtcp.FullIntraRequest{}))
	require.False(t, IsKeyframeRequest(&rtcp.ReceiverReport{}))
	require.False(t, IsKeyframeRequest(&rtcp.TransportLayerNack{}))
}

type rtcpQueue [][]rtcp.Packet

func (q *rtcpQueue) ReadRTCP() ([]rtcp.Packet, interceptor.Attributes, error) {
	if len(*q) == 0 {
		return nil, nil, io.EOF
	}
	pkts := (*q)[0]
	*q = (*q)[1:]
	return pkts, nil, nil
}

func TestReadRTCPHandsOverEveryPacketUntilTheReaderFails(t *testing.T) {
	q := &rtcpQueue{
		{&rtcp.SenderReport{SSRC: 1}, &rtcp.PictureLossIndication{MediaSSRC: 1}},
		{},
		{&rtcp.ReceiverReport{SSRC: 2}},
	}
	var got []rtcp.Packet
	ReadRTCP(q, func(p rtcp.Packet) { got = append(got, p) })
	require.Len(t, got, 3)
	require.IsType(t, &rtcp.ReceiverReport{}, got[2])
}
