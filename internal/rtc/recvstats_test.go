package rtc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func addSeqs(l *nackLog, from, to uint16, except ...uint16) {
	for seq := from; ; seq++ {
		skip := false
		for _, e := range except {
			skip = skip || e == seq
		}
		if !skip {
			l.add(seq)
		}
		if seq == to {
			return
		}
	}
}

// A hole is asked for once the reorder window has passed it, at most maxAsks times, and not
// after it was filled.
func TestNACKLog(t *testing.T) {
	var l nackLog
	require.Empty(t, l.missing(nil, 4, 3), "nothing received, nothing missing")

	addSeqs(&l, 1, 10, 8)
	require.Empty(t, l.missing(nil, 4, 3), "8 is within the reorder window of 10")
	addSeqs(&l, 11, 12)
	require.Equal(t, []uint16{8}, l.missing(nil, 4, 3))
	require.Equal(t, []uint16{8}, l.missing(nil, 4, 3))
	require.Equal(t, []uint16{8}, l.missing(nil, 4, 3))
	require.Empty(t, l.missing(nil, 4, 3), "asked three times: given up")
	l.add(8)
	require.Empty(t, l.missing(nil, 4, 3))
	require.Equal(t, uint16(12), l.lastConsecutive, "the late packet closed the hole")

	addSeqs(&l, 13, 30, 15, 16, 20)
	require.Equal(t, []uint16{15, 16, 20}, l.missing(nil, 4, 3))
	l.add(16)
	require.Equal(t, []uint16{15, 20}, l.missing(nil, 4, 3))
	l.add(5) // long received: nothing changes
	require.Equal(t, []uint16{15, 20}, l.missing(nil, 4, 3))
}

func TestNACKLogWrapsAndJumps(t *testing.T) {
	var l nackLog
	addSeqs(&l, 65530, 10, 2, 65534)
	require.Equal(t, []uint16{65534, 2}, l.missing(nil, 4, 3), "across the wrap of the sequence numbers")

	var j nackLog
	j.add(100)
	j.add(700)
	got := j.missing(nil, 4, 3)
	require.Len(t, got, nackLogSize-4, "no further back than the log holds")
	require.Equal(t, uint16(700-nackLogSize+1), got[0])
	require.Equal(t, uint16(700-4), got[len(got)-1], "up to the reorder window")
}

// Receiver reports count what was lost since the last one and in all, with the extended highest
// sequence number and the round-trip fields of the last sender report.
func TestReceptionStats(t *testing.T) {
	s := receptionStats{clockRate: 90000}
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	arrive := func(seq uint16, i int) {
		// 30 frames a second, 3 packets a frame, arriving exactly on time: no jitter.
		s.add(seq, uint32(i/3)*3000, t0.Add(time.Duration(i/3)*time.Second/30))
	}
	for i := range 100 {
		if seq := uint16(65500 + i); seq != 65530 && seq != 65531 {
			arrive(seq, i)
		}
	}
	s.senderReport(0x1122334455667788, t0.Add(time.Second))
	r := s.report(9, t0.Add(1500*time.Millisecond))
	require.Equal(t, uint32(9), r.SSRC)
	require.Equal(t, uint32(65500+99), r.LastSequenceNumber)
	require.Equal(t, uint32(2), r.TotalLost)
	require.Equal(t, uint8(2*256/100), r.FractionLost)
	require.Zero(t, r.Jitter)
	require.Equal(t, uint32(0x33445566), r.LastSenderReport)
	require.Equal(t, uint32(65536/2), r.Delay, "half a second since the sender report, in 1/65536 s")

	for i := 100; i < 200; i++ {
		arrive(uint16(65500+i), i)
	}
	r = s.report(9, t0.Add(3*time.Second))
	require.Equal(t, uint32(1<<16|(65500+199-65536)), r.LastSequenceNumber, "one wrap counted")
	require.Equal(t, uint32(2), r.TotalLost, "nothing more lost")
	require.Zero(t, r.FractionLost)
}
