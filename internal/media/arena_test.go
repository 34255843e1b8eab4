package media

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

func marshalRTP(t testing.TB, seq uint16, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 9000,
		SSRC: 42}, Payload: payload}
	require.NoError(t, p.SetExtension(3, []byte{1, 2}))
	b, err := p.Marshal()
	require.NoError(t, err)
	return b
}

// Packets handed out earlier keep their contents however many follow, across blocks.
func TestArenaPacketsStayIntact(t *testing.T) {
	var a Arena
	var got []*Packet
	raw := make([]byte, 1500)
	for i := range 500 {
		b := marshalRTP(t, uint16(i), make([]byte, 1000+i%200))
		copy(raw, b)
		p, err := a.Packet(raw[:len(b)])
		require.NoError(t, err)
		raw[20] ^= 0xff // the reader's buffer is reused at once
		got = append(got, p)
	}
	for i, p := range got {
		require.Equal(t, uint16(i), p.RTP.SequenceNumber)
		require.Len(t, p.RTP.Payload, 1000+i%200)
		require.Equal(t, []byte{1, 2}, p.RTP.GetExtension(3))
	}
	_, err := a.Packet([]byte{0x80})
	require.Error(t, err)
}

// BenchmarkArenaPacket: allocations per packet amortised over a block.
func BenchmarkArenaPacket(b *testing.B) {
	raw := marshalRTP(b, 1, make([]byte, 1100))
	var a Arena
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := a.Packet(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPerPacketAlloc is the allocation per packet the arena replaces, for comparison.
func BenchmarkPerPacketAlloc(b *testing.B) {
	raw := marshalRTP(b, 1, make([]byte, 1100))
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		data := make([]byte, len(raw))
		copy(data, raw)
		p := &rtp.Packet{}
		if err := p.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
		_ = &Packet{RTP: p}
	}
}
