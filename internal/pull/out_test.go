package pull

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// The first session passes unchanged; the next one continues the sequence numbers, moves its
// timestamps to follow on by the wall-clock pause, and shows a new SSRC even when the remote
// reuses its own.
func TestTrackOutContinuesAcrossSessions(t *testing.T) {
	o := newTrackOut(90000)
	t0 := time.Unix(1000, 0)
	o.newSession()
	_, ok := o.timestampOffset()
	require.False(t, ok, "no offset before the first packet")
	seq0, ts0 := uint16(65530), uint32(4294960000)
	for i := range 10 {
		seq, ts := seq0+uint16(i), ts0+uint32(3000*i) // both wrap
		h := rtp.Header{SSRC: 0xAAAA, SequenceNumber: seq, Timestamp: ts}
		o.rewrite(&h, t0.Add(time.Duration(i)*33*time.Millisecond))
		require.Equal(t, seq, h.SequenceNumber, "first session: unchanged")
		require.Equal(t, ts, h.Timestamp)
		require.Equal(t, uint32(0xAAAA), h.SSRC)
	}
	off, ok := o.timestampOffset()
	require.True(t, ok)
	require.Zero(t, off)
	lastSeq, lastTS := seq0+9, ts0+3000*9
	lastAt := t0.Add(9 * 33 * time.Millisecond)

	// A reordered packet of the first session does not move the line back.
	h := rtp.Header{SSRC: 0xAAAA, SequenceNumber: seq0 + 5, Timestamp: 1}
	o.rewrite(&h, lastAt)
	require.Equal(t, lastSeq, o.lastSeq)

	o.newSession()
	resumed := lastAt.Add(6 * time.Second)
	for i := range 5 {
		h := rtp.Header{SSRC: 0xBBBB, SequenceNumber: uint16(100 + i), Timestamp: uint32(77 + 3000*i)}
		o.rewrite(&h, resumed.Add(time.Duration(i)*33*time.Millisecond))
		require.Equal(t, lastSeq+1+uint16(i), h.SequenceNumber, "sequence numbers continue")
		require.Equal(t, lastTS+6*90000+uint32(3000*i), h.Timestamp, "timestamps follow on by the pause")
		require.Equal(t, uint32(0xBBBB), h.SSRC, "a new session is a new source")
	}
	off, ok = o.timestampOffset()
	require.True(t, ok)
	require.Equal(t, lastTS+6*90000-77, off, "sender reports move with the packets")

	o.newSession()
	h = rtp.Header{SSRC: 0xBBBB, SequenceNumber: 9, Timestamp: 9}
	o.rewrite(&h, resumed.Add(time.Minute))
	require.Equal(t, uint32(0xBBBA), h.SSRC, "the remote reused its SSRC: the local track still changes source")
}
